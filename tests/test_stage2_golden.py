"""Stage 2 against the reference: the tiny SecondStage checkpoints through our real loader,
golden cases c (flow forward), d (both decoders + FlexiCubes), f (8-step sampler with the
stored noise) and g (DINOv2 glue), for the bundled golden folder and every folder in
SYNCHUMAN_EXTRA_GOLDEN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golden_support import assert_close, golden_cases, load_case
from synchuman.models.sparse import SparseTensor
from synchuman.models.registry import load_model
from synchuman.pipelines.stage2 import Stage2Pipeline, dinov2_condition, multiview_dinov2_input, multiview_features
from test_flexicubes import canonical

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TOL_FORWARD = 1e-4
TOL_LOOP = 5e-4


def ckpt(root, name):
    return root / "tiny" / "ckpts" / "SecondStage" / "ckpts" / name


@pytest.mark.parametrize("root", golden_cases("c_slat_flow_forward.safetensors"))
@torch.no_grad()
def test_case_c_flow_forward(root):
    t, meta = load_case(root, "c_slat_flow_forward.safetensors")
    flow = load_model(ckpt(root, "slat_flow"), expected_name="SLatFlowModel")
    out = flow(SparseTensor(t["in_feats"], t["in_coords"]), t["in_t"], t["in_cond"])
    assert torch.equal(out.coords, t["in_coords"])
    assert_close(out.feats, t["out_feats"], TOL_FORWARD, "case c out_feats")
    # batch items are independent: every item alone gives its rows of the batched output
    counts = [int(n) for n in meta["n_per_batch"]]
    assert sum(counts) == t["in_coords"].shape[0] and len(counts) == t["in_t"].shape[0]
    start = 0
    for b, n in enumerate(counts):
        rows = slice(start, start + n)
        assert (t["in_coords"][rows, 0] == b).all(), f"case c: rows of item {b} are not contiguous"
        coords = t["in_coords"][rows].clone()
        coords[:, 0] = 0
        alone = flow(SparseTensor(t["in_feats"][rows], coords), t["in_t"][b:b + 1], t["in_cond"][b:b + 1])
        assert_close(alone.feats, t["out_feats"][rows], TOL_FORWARD, f"case c batch item {b} alone")
        start += n


@pytest.mark.parametrize("root", golden_cases("d_decoders.safetensors"))
@torch.no_grad()
def test_case_d_decoders_and_mesh(root):
    t, meta = load_case(root, "d_decoders.safetensors")
    slat = SparseTensor(t["in_feats"], t["in_coords"])
    gs_dec = load_model(ckpt(root, "decoder_GS"), expected_name="SLatGaussianDecoder")
    raw = gs_dec.forward_features(slat, t["in_mv_color"], t["in_mv_normal"])
    assert_close(raw.feats, t["gs_out_raw"], TOL_FORWARD, "gs_out_raw")
    g = gs_dec(slat, t["in_mv_color"], t["in_mv_normal"])[0]
    for ours, key in [(g.xyz, "gs__xyz"), (g.features_dc, "gs__features_dc"), (g.scaling, "gs__scaling"),
                      (g.rotation, "gs__rotation"), (g.opacity, "gs__opacity"), (g.positions, "gs_get_xyz"),
                      (g.scales, "gs_get_scaling"), (g.rotations, "gs_get_rotation"),
                      (g.opacities, "gs_get_opacity")]:
        assert_close(ours, t[key], TOL_FORWARD, key)

    mesh_dec = load_model(ckpt(root, "decoder_Mesh"), expected_name="SLatMeshDecoder")
    mraw = mesh_dec.forward_features(slat, t["in_mv_color"], t["in_mv_normal"])
    assert torch.equal(mraw.coords, t["mesh_out_coords"])
    assert_close(mraw.feats, t["mesh_out_raw"], TOL_FORWARD, "mesh_out_raw")
    # the mesh from our own raw features: same topology (after canonical ordering) and vertices
    mesh = mesh_dec.to_meshes(mraw)[0]
    assert mesh.success == bool(meta.get("mesh_success", True))
    assert mesh.vertices.shape == t["mesh_vertices"].shape and mesh.faces.shape == t["mesh_faces"].shape
    va, fa, _ = canonical(mesh.vertices, mesh.faces)
    vb, fb, _ = canonical(t["mesh_vertices"], t["mesh_faces"])
    assert np.array_equal(fa, fb), "mesh topology differs from the reference"
    np.testing.assert_allclose(va, vb, atol=1e-4)


@pytest.mark.parametrize("root", golden_cases("f_stage2_sampler.safetensors"))
def test_case_f_sampler(root):
    t, meta = load_case(root, "f_stage2_sampler.safetensors")
    pipe = Stage2Pipeline.from_pretrained(root / "tiny" / "ckpts" / "SecondStage", decoders=False)
    cond = dinov2_condition(t["in_dinov2_x_prenorm"])
    assert_close(cond, t["int_cond"], TOL_FORWARD, "int_cond")
    assert torch.equal(torch.zeros_like(cond), t["int_neg_cond"])
    steps = int(meta["steps"])
    slat, res = pipe.sample_slat(t["in_coords"], cond, noise=t["in_noise"], steps=steps, record=True)
    np.testing.assert_allclose(res.t_seq, t["int_t_seq"].numpy(), atol=1e-12)
    assert res.guided == list(meta["guided_steps"])
    for i in range(steps):
        assert_close(res.trajectory[i].feats, t["int_pred_x_t"][i], TOL_LOOP, f"pred_x_t step {i}")
        assert_close(res.x0_predictions[i].feats, t["int_pred_x_0"][i], TOL_LOOP, f"pred_x_0 step {i}")
    assert_close(res.samples.feats, t["out_slat_normalized"], TOL_LOOP, "normalized")
    assert_close(slat.feats, t["out_slat_denormalized"], TOL_LOOP, "denormalized")


class FakeDinov2:
    """Returns given per-layer tokens and records what it was fed (the golden stub's contract)."""

    def __init__(self, layers):
        self.layers = layers
        self.inputs = []
        self.requested = []

    def get_intermediate_layers(self, x, n):
        self.inputs.append(x)
        self.requested.append(list(n))
        start = sum(i.shape[0] for i in self.inputs[:-1])
        return tuple(layer[start:start + x.shape[0]] for layer in self.layers)


@pytest.mark.parametrize("root", golden_cases("g_dinov2_glue.safetensors"))
def test_case_g_dinov2_glue(root):
    t, meta = load_case(root, "g_dinov2_glue.safetensors")
    assert_close(dinov2_condition(t["ln_in_x_prenorm"]), t["ln_out_cond"], TOL_FORWARD, "ln_out_cond")
    size = int(meta["up_size"])
    assert_close(multiview_dinov2_input(t["mv_in_images"], size), t["mv_dinov2_input"], TOL_FORWARD, "mv input")
    fake = FakeDinov2([t[f"mv_fake_layer{i}"] for i in range(4)])
    out = multiview_features(fake, t["mv_in_images"], size=size, chunk=1)
    assert fake.requested[0] == list(meta.get("layers_requested", [4, 11, 17, 23]))
    assert_close(torch.cat(fake.inputs), t["mv_dinov2_input"], TOL_FORWARD, "fed to DINOv2")
    assert_close(out, t["mv_out"], TOL_FORWARD, "mv_out")
