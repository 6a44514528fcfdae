"""Golden case e: the whole stage-1 loop (3 steps, guidance 3, rescale_t 3) on the tiny release
folder loaded through `Stage1Pipeline.from_pretrained`, from the preprocessing of the source PNG
through CLIP, VAE encoding, the CFG batch, the joint Euler loop and the SS decoder; plus cheap
analytic tests of the CFG layout / Euler update, progress and cancel."""

import time

import numpy as np
import pytest
import torch
from PIL import Image

from golden_support import assert_close, golden_cases, load_case

from synchuman.common import reporter, step_callback
from synchuman.errors import Cancelled
from synchuman.jobs import CancelToken
from synchuman.pipelines.samplers import flow_time_grid
from synchuman.pipelines.stage1 import (Stage1Conditions, Stage1Pipeline, Stage1Result, finish_views,
                                        occupancy_coords, sample_stage1, stage1_noise)


def _prompt_file(tmp_path, embeds10):
    """A prompt-embeddings file in the release's 7-view layout whose rows [0,2,3,4,6] are the case's."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    normal = torch.randn(7, *embeds10.shape[1:], generator=g)
    clr = torch.randn(7, *embeds10.shape[1:], generator=g)
    normal[[0, 2, 3, 4, 6]] = embeds10[:5]
    clr[[0, 2, 3, 4, 6]] = embeds10[5:]
    path = tmp_path / "prompt_embeds" / "fixed_prompt_embeds_7view.safetensors"
    path.parent.mkdir()
    save_file({"normal": normal, "clr": clr}, str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("root", golden_cases("e_stage1_sampler.safetensors"))
def test_stage1_loop_matches_reference(root, tmp_path):
    c, meta = load_case(root, "e_stage1_sampler.safetensors")
    pipe = Stage1Pipeline.from_pretrained(root / "tiny/ckpts/OneStage",
                                          prompt_embeds_path=_prompt_file(tmp_path, c["in_prompt_embeds"]))
    assert torch.equal(pipe.prompt_embeds, c["in_prompt_embeds"])
    from synchuman.preprocess import preprocess_stage1

    inputs = preprocess_stage1(Image.open(root / "cases" / "h_preprocess" / "img1_src_rgba.png"))
    cond = pipe.encode_conditions(inputs, dinov2_x_prenorm=c["in_dinov2_x_prenorm"])
    assert_close(cond.clip_pixel_values, c["int_clip_pixel_values"], 1e-5, "int_clip_pixel_values")
    assert_close(cond.class_labels, c["int_class_labels"], 1e-4, "int_class_labels")
    assert torch.equal(cond.encoder_hidden_states, c["int_encoder_hidden_states"])
    assert_close(cond.trellis_cond, c["int_trellis_cond"], 1e-4, "int_trellis_cond")
    np.testing.assert_allclose(flow_time_grid(meta["steps"], meta["rescale_t"]), c["int_t_seq"].numpy(), rtol=1e-12)

    steps_seen = []
    t0 = time.perf_counter()
    x2, x3, traj = sample_stage1(pipe.joint, cond, c["in_noise2d"], c["in_noise3d"], steps=meta["steps"],
                                 guidance_scale=meta["guidance_scale"], rescale_t=meta["rescale_t"],
                                 callback=lambda d, n: steps_seen.append((d, n)), record=True)
    per_step = (time.perf_counter() - t0) / meta["steps"]
    print(f"tiny stage-1 step (CFG batch, 1 joint forward): {per_step:.1f} s")
    assert steps_seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    for i, ref in enumerate(c["int_trellis_latent_per_step"]):
        assert_close(traj[i][0], ref, 5e-4, f"int_trellis_latent_per_step[{i}]")
    assert_close(x2, c["out_latents"], 5e-4, "out_latents")
    assert_close(x3, c["out_trellis_latent"], 5e-4, "out_trellis_latent")

    # occupancy: exact from the stored latent; from ours only voxels with |logit| ~ 0 may flip
    with torch.no_grad():
        ref_logits = pipe.ss_decoder(c["out_trellis_latent"])
        our_logits = pipe.ss_decoder(x3)
    occ, coords = occupancy_coords(ref_logits)
    assert np.array_equal(occ, c["out_occupancy"].numpy())
    assert len(coords) == int(c["out_coords_count"][0]) and (coords[:, 0] == 0).all()
    flips = (our_logits > 0) != (ref_logits > 0)
    assert (ref_logits[flips].abs() < 1e-3).all()

    # decoding, the view overrides and the reference's files
    images, _ = pipe.decode(x2, x3)
    assert images.shape == (10, 3, 768, 768) and 0 <= float(images.min()) and float(images.max()) <= 1
    normals, colors = finish_views(images, inputs.mv_image)
    assert np.array_equal(colors[0], inputs.mv_image)
    res = Stage1Result(normals=normals, colors=colors, coords=coords, occupancy=occ, latents_2d=x2, latent_3d=x3,
                       inputs=inputs)
    files = {p.name for p in res.save(tmp_path / "job")}
    assert files == {f"{k}_{i}.png" for k in ("color", "normal") for i in range(5)} | {"concat.png", "input.png",
                                                                                         "latent.npz", "voxel.ply"}
    saved = np.load(tmp_path / "job" / "latent.npz")["coords"]
    assert saved.dtype == np.float32 and np.array_equal(saved, coords.astype(np.float32))
    assert Image.open(tmp_path / "job" / "concat.png").size == (7680, 768)
    # voxel.ply: the centres, then each voxel as a closed, outward cube (read back by trimesh)
    import trimesh

    ply = trimesh.load(tmp_path / "job" / "voxel.ply", process=False)
    assert np.allclose(ply.vertices[:len(coords)], coords[:, 1:])
    cubes = trimesh.Trimesh(ply.vertices, ply.faces, process=False)
    assert cubes.is_watertight and len(cubes.split(only_watertight=True)) == len(coords)
    assert cubes.volume == pytest.approx(len(coords))     # unit cubes whose faces point outward


class _LinearModel(torch.nn.Module):
    """Velocity = the image latents (channels 4-7, zero in uncond rows) and the 3D cond's mean."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, sample, timestep, ehs, labels, tx, tt, tcond):
        self.calls.append((sample.shape[0], tx.shape[0], float(timestep), tuple(tt.shape)))
        v3 = tcond.mean(dim=(1, 2)).view(-1, 1, 1, 1, 1).expand_as(tx)
        return sample[:, 4:], v3


def _cond(guided, n=2):
    img = torch.arange(10 * 4 * n * n, dtype=torch.float32).reshape(10, 4, n, n) / 100
    from synchuman.pipelines.stage1 import cfg_layout

    tc = torch.full((1, 3, 2), 0.5)
    if guided:
        return Stage1Conditions(torch.zeros(20, 77, 4), cfg_layout(torch.ones(10, 6)), cfg_layout(img),
                                torch.cat([torch.zeros_like(tc), tc]), True), img
    return Stage1Conditions(torch.zeros(10, 77, 4), torch.ones(10, 6), img, tc, False), img


@pytest.mark.parametrize("guided", [True, False])
def test_cfg_layout_and_euler_update(guided):
    cond, img = _cond(guided)
    model = _LinearModel()
    x2 = torch.randn(10, 4, 2, 2)
    x3 = torch.randn(1, 8, 2, 2, 2)
    out2, out3, _ = sample_stage1(model, cond, x2, x3, steps=4, guidance_scale=3.0)
    s = 3.0 if guided else 1.0
    # the time steps sum to 1, velocities are constant: x_end = x_0 - v
    torch.testing.assert_close(out2, x2 - s * img)
    torch.testing.assert_close(out3, x3 - s * 0.5 * torch.ones_like(x3))
    assert [c[:2] for c in model.calls] == ([(20, 2)] * 4 if guided else [(10, 1)] * 4)
    assert model.calls[0][2] == 1000.0 and model.calls[0][3] == (1,)


def test_cancel_before_a_step():
    cond, _ = _cond(True)
    tok = CancelToken()
    tok.set()
    model = _LinearModel()
    with pytest.raises(Cancelled):
        sample_stage1(model, cond, torch.zeros(10, 4, 2, 2), torch.zeros(1, 8, 2, 2, 2), steps=3,
                      callback=step_callback(reporter(None, tok), "stage1", "step"))
    assert model.calls == []


def test_noise_is_seeded_and_3d_matches_reference_cpu_draw():
    a2, a3 = stage1_noise(43, latent_size=8)
    b2, b3 = stage1_noise(43, latent_size=8)
    assert torch.equal(a2, b2) and torch.equal(a3, b3)
    torch.manual_seed(43)  # the reference draws the 3D latent first from the seeded CPU generator
    assert torch.equal(a3, torch.randn(1, 8, 16, 16, 16))
    assert not torch.equal(stage1_noise(44, latent_size=8)[1], a3)


def test_finish_views_overrides():
    images = torch.rand(10, 3, 12, 12)
    inp = np.full((12, 12, 3), 0.25, np.float32)
    normals, colors = finish_views(images, inp)
    assert np.array_equal(colors[0], inp) and np.allclose(colors[1], images[6].permute(1, 2, 0).numpy())
    face = torch.nn.functional.interpolate(images[4:5], size=(4, 4), mode="bilinear", align_corners=False)[0]
    assert np.allclose(normals[0][:4, 4:8], face.permute(1, 2, 0).numpy())
    assert np.allclose(normals[0][4:], images[0].permute(1, 2, 0).numpy()[4:])
