"""Sparse tensors: exact submanifold convolution (vs brute force and golden case s), the
spconv comparison (CUDA only), down/up-sampling, subdivision and windowed attention."""

from __future__ import annotations

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case
from synchuman.models.sparse import (SparseConv3d, SparseTensor, build_neighbour_map, downsample,
                                     spconv_available, subdivide, submanifold_conv_bruteforce,
                                     submanifold_conv_torch, upsample, windowed_self_attention)
from synchuman.models.sparse.attention import full_self_attention


def random_sparse(n_per_batch, extent, gen, batch_sizes=None):
    coords = []
    for b, n in enumerate(n_per_batch):
        flat = torch.randperm(extent ** 3, generator=gen)[:n].sort().values
        xyz = torch.stack([flat // extent ** 2, (flat // extent) % extent, flat % extent], 1)
        coords.append(torch.cat([torch.full((n, 1), b), xyz], 1))
    return torch.cat(coords).int()


@pytest.mark.parametrize("root", golden_cases("s_spconv_subm.safetensors"))
def test_conv_matches_golden_case_s(root):
    t, meta = load_case(root, "s_spconv_subm.safetensors")
    assert meta.get("weight_layout", "(out, kx, ky, kz, in)") == "(out, kx, ky, kz, in)"
    conv = SparseConv3d(t["weight"].shape[-1], t["weight"].shape[0], t["weight"].shape[1])
    conv.load_state_dict({"conv.weight": t["weight"], "conv.bias": t["bias"]})
    with torch.no_grad():
        out = conv(SparseTensor(t["in_feats"], t["in_coords"]))
    assert_close(out.feats, t["out_feats"], 1e-4, "case s")
    # and the brute-force statement of the documented rule agrees too
    bf = submanifold_conv_bruteforce(t["in_coords"], t["in_feats"], t["weight"], t["bias"])
    assert_close(bf, t["out_feats"], 1e-5, "case s brute force")


@pytest.mark.parametrize("seed,extent,ns,k", [(0, 6, (40,), 3), (1, 5, (30, 50), 3), (2, 4, (20, 12, 30), 3),
                                              (3, 7, (60,), 5), (4, 3, (27,), 3)])
def test_conv_matches_bruteforce_on_random_sets(seed, extent, ns, k):
    g = torch.Generator().manual_seed(seed)
    coords = random_sparse(ns, extent, g)
    # shuffle rows within the whole set must not matter for the torch backend's maths, but batches
    # stay contiguous: permute inside each batch only
    perm = torch.cat([torch.randperm(n, generator=g) + sum(ns[:i]) for i, n in enumerate(ns)])
    coords = coords[perm]
    feats = torch.randn(coords.shape[0], 5, generator=g)
    weight = torch.randn(7, k, k, k, 5, generator=g)
    bias = torch.randn(7, generator=g)
    nmap = build_neighbour_map(coords, k)
    ours = submanifold_conv_torch(feats, weight, bias, nmap)
    ref = submanifold_conv_bruteforce(coords, feats, weight, bias)
    assert_close(ours, ref, 1e-5, "random conv")


@torch.no_grad()
def test_conv_1x1_is_linear_and_batches_do_not_mix():
    g = torch.Generator().manual_seed(5)
    coords = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 2]], dtype=torch.int32)  # neighbours, but different batches
    feats = torch.randn(2, 3, generator=g)
    conv = SparseConv3d(3, 2, 3)
    out = conv(SparseTensor(feats, coords)).feats
    w = conv.conv.weight
    expect = feats @ w[:, 1, 1, 1, :].t() + conv.conv.bias
    assert_close(out, expect, 1e-6, "no cross-batch neighbours")
    conv1 = SparseConv3d(3, 2, 1)
    out1 = conv1(SparseTensor(feats, coords)).feats
    # spconv's 1x1 path (the released weights' convention): the (out,1,1,1,in) buffer viewed as (in, out)
    assert_close(out1, feats @ conv1.conv.weight.reshape(3, 2) + conv1.conv.bias, 1e-6, "1x1")


def test_conv_spconv_agrees_with_torch_backend():
    ok, reason = spconv_available()
    if not ok:
        pytest.skip(f"spconv comparison needs CUDA + spconv: {reason}")
    from synchuman.models.sparse import set_conv_backend  # pragma: no cover - CUDA only

    g = torch.Generator().manual_seed(0)  # pragma: no cover
    coords = random_sparse((500, 300), 16, g).cuda()
    feats = torch.randn(coords.shape[0], 16, generator=g).cuda()
    conv = SparseConv3d(16, 24, 3).cuda()
    try:
        set_conv_backend("spconv")
        a = conv(SparseTensor(feats, coords)).feats
        set_conv_backend("torch")
        b = conv(SparseTensor(feats, coords)).feats
    finally:
        set_conv_backend("auto")
    assert_close(a.cpu(), b.cpu(), 1e-4, "spconv vs torch")


def test_downsample_pools_with_reference_count_and_upsample_restores_coords():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 1], [0, 2, 0, 0], [1, 0, 0, 1]], dtype=torch.int32)
    feats = torch.tensor([[1.0], [3.0], [5.0], [7.0]])
    x = SparseTensor(feats, coords)
    d = downsample(x, 2)
    assert d.coords.tolist() == [[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]
    # (1+3)/(2+1), 5/(1+1), 7/(1+1): the released networks' pooling counts the zero initial value
    assert torch.allclose(d.feats.flatten(), torch.tensor([4 / 3, 2.5, 3.5]))
    u = upsample(d.replace(d.feats * 2), 2)
    assert torch.equal(u.coords, coords)
    assert torch.allclose(u.feats.flatten(), torch.tensor([8 / 3, 8 / 3, 5.0, 7.0]))


def test_subdivide_order():
    x = SparseTensor(torch.tensor([[1.0], [2.0]]), torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]], dtype=torch.int32))
    s = subdivide(x)
    assert s.coords[:8, 1:].tolist() == [[2 + i, 4 + j, 6 + k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    assert s.feats[:8].flatten().tolist() == [1.0] * 8 and s.feats[8:].flatten().tolist() == [2.0] * 8


def _windowed_reference(coords, q, k, v, ws, shift):
    w = torch.div(coords[:, 1:].long() + shift, ws, rounding_mode="floor")
    key = torch.cat([coords[:, :1].long(), w], 1)
    out = torch.zeros_like(v)
    scale = q.shape[-1] ** -0.5
    for i in range(coords.shape[0]):
        same = (key == key[i]).all(1)
        s = torch.einsum("hd,jhd->hj", q[i], k[same]) * scale
        out[i] = torch.einsum("hj,jhd->hd", s.softmax(-1), v[same])
    return out


@pytest.mark.parametrize("shift", [0, 4])
def test_windowed_attention_matches_per_token_reference(shift):
    g = torch.Generator().manual_seed(11 + shift)
    coords = random_sparse((150, 90), 20, g)
    n = coords.shape[0]
    q, k, v = (torch.randn(n, 2, 8, generator=g) for _ in range(3))
    x = SparseTensor(torch.zeros(n, 1), coords)
    ours = windowed_self_attention(x, q, k, v, 8, shift)
    ref = _windowed_reference(coords, q, k, v, 8, shift)
    assert_close(ours, ref, 1e-5, "windowed attention")


def test_full_attention_is_per_batch_item():
    g = torch.Generator().manual_seed(3)
    coords = random_sparse((10, 7), 5, g)
    n = coords.shape[0]
    q, k, v = (torch.randn(n, 2, 4, generator=g) for _ in range(3))
    x = SparseTensor(torch.zeros(n, 1), coords)
    ours = full_self_attention(x, q, k, v)
    ref = _windowed_reference(coords, q, k, v, 1000, 0)
    assert_close(ours, ref, 1e-5, "full attention")
