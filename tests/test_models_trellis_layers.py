"""Dense TRELLIS blocks and the shared attention function against direct formulas."""

import math

import torch

from synchuman.models.attention import attention
from synchuman.models.trellis_layers import (AbsolutePositionEmbedder, ModulatedTransformerCrossBlock,
                                             MultiHeadRMSNorm, TimestepEmbedder, grid_position_embedding,
                                             timestep_embedding)


def naive(q, k, v, scale=None):
    scale = scale or 1 / math.sqrt(q.shape[-1])
    s = torch.einsum("blhd,bmhd->bhlm", q.double(), k.double()) * scale
    return torch.einsum("bhlm,bmhd->blhd", s.softmax(-1), v.double()).float()


def test_attention_matches_naive_and_chunks_exactly():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 50, 2, 8, generator=g) for _ in range(3))
    ref = naive(q, k, v)
    torch.testing.assert_close(attention(q, k, v), ref, atol=1e-5, rtol=1e-5)
    # tiny budget forces chunking over queries and over the batch
    torch.testing.assert_close(attention(q, k, v, max_score_bytes=2 * 50 * 4 * 7), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention(q, k, v, max_score_bytes=2 * 50 * 50 * 4 * 2), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention(q, k, v, scale=0.3), naive(q, k, v, 0.3), atol=1e-5, rtol=1e-5)


def test_timestep_embedding_cos_first():
    t = torch.tensor([0.0, 500.0])
    e = timestep_embedding(t, 256)
    assert e.shape == (2, 256)
    assert torch.all(e[0, :128] == 1) and torch.all(e[0, 128:] == 0)
    f = math.exp(-math.log(10000) * 3 / 128)
    assert abs(float(e[1, 3]) - math.cos(500 * f)) < 1e-4 and abs(float(e[1, 131]) - math.sin(500 * f)) < 1e-4
    te = TimestepEmbedder(32)
    assert set(te.state_dict()) == {"mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"}
    assert te(t).shape == (2, 32)


def test_position_embedding_layout():
    pe = grid_position_embedding(32, 4)  # freq_dim = 32 // 3 // 2 = 5 -> 30 dims + 2 zeros
    assert pe.shape == (64, 32)
    idx = 16 * 1 + 4 * 2 + 3  # (x, y, z) = (1, 2, 3)
    f = 1.0 / 10000 ** (torch.arange(5) / 5)
    exp = torch.cat([torch.sin(1 * f), torch.cos(1 * f), torch.sin(2 * f), torch.cos(2 * f),
                     torch.sin(3 * f), torch.cos(3 * f), torch.zeros(2)])
    torch.testing.assert_close(pe[idx], exp)
    assert AbsolutePositionEmbedder(32)(torch.tensor([[1, 2, 3]])).shape == (1, 32)


def test_rms_norm():
    n = MultiHeadRMSNorm(8, 2)
    with torch.no_grad():
        n.gamma.copy_(torch.arange(16.0).reshape(2, 8))
    x = torch.randn(4, 5, 2, 8)
    torch.testing.assert_close(n(x), x / x.norm(dim=-1, keepdim=True) * n.gamma * math.sqrt(8))


def test_modulated_block_keys_and_formula():
    torch.manual_seed(0)
    blk = ModulatedTransformerCrossBlock(16, 12, num_heads=2, qk_rms_norm=True)
    keys = set(blk.state_dict())
    assert keys == {"norm2.weight", "norm2.bias", "self_attn.to_qkv.weight", "self_attn.to_qkv.bias",
                    "self_attn.q_rms_norm.gamma", "self_attn.k_rms_norm.gamma", "self_attn.to_out.weight",
                    "self_attn.to_out.bias", "cross_attn.to_q.weight", "cross_attn.to_q.bias",
                    "cross_attn.to_kv.weight", "cross_attn.to_kv.bias", "cross_attn.to_out.weight",
                    "cross_attn.to_out.bias", "mlp.mlp.0.weight", "mlp.mlp.0.bias", "mlp.mlp.2.weight",
                    "mlp.mlp.2.bias", "adaLN_modulation.1.weight", "adaLN_modulation.1.bias"}
    for p in blk.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x, t, c = torch.randn(2, 7, 16), torch.randn(2, 16), torch.randn(2, 5, 12)
    # direct formula
    sh1, sc1, g1, sh2, sc2, g2 = blk.adaLN_modulation(t).chunk(6, 1)
    ln = lambda z: torch.nn.functional.layer_norm(z, (16,), eps=1e-6)
    h = ln(x) * (1 + sc1[:, None]) + sh1[:, None]
    q, k, v = blk.self_attn.to_qkv(h).reshape(2, 7, 3, 2, 8).unbind(2)
    q = torch.nn.functional.normalize(q, dim=-1) * blk.self_attn.q_rms_norm.gamma * math.sqrt(8)
    k = torch.nn.functional.normalize(k, dim=-1) * blk.self_attn.k_rms_norm.gamma * math.sqrt(8)
    x1 = x + g1[:, None] * blk.self_attn.to_out(naive(q, k, v).reshape(2, 7, 16))
    h = torch.nn.functional.layer_norm(x1, (16,), blk.norm2.weight, blk.norm2.bias, eps=1e-6)
    qc = blk.cross_attn.to_q(h).reshape(2, 7, 2, 8)
    kc, vc = blk.cross_attn.to_kv(c).reshape(2, 5, 2, 2, 8).unbind(2)
    x2 = x1 + blk.cross_attn.to_out(naive(qc, kc, vc).reshape(2, 7, 16))
    x3 = x2 + g2[:, None] * blk.mlp(ln(x2) * (1 + sc2[:, None]) + sh2[:, None])
    torch.testing.assert_close(blk(x, t, c), x3, atol=1e-4, rtol=1e-4)
