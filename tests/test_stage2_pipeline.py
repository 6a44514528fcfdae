"""Stage2Pipeline.run end to end on the tiny checkpoints: fields of the result, seeded
reproducibility, progress after every step, cancel, and input validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from golden_support import golden_roots, load_case
from synchuman.errors import Cancelled, SyncHumanError
from synchuman.jobs import CancelToken
from synchuman.pipelines.memory import MemoryPolicy
from synchuman.pipelines.stage2 import Stage2Pipeline


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyDinov2:
    """A stand-in with DINOv2's get_intermediate_layers contract (patch 14, final-norm tokens);
    width 4 per layer to fit the tiny decoders (4 layers x 4 = 16 = 4 mv_dim)."""

    def get_intermediate_layers(self, x, n):
        p = F.avg_pool2d(x, 14)  # (b, 3, 64, 64)
        tok = p.flatten(2).transpose(1, 2)  # (b, 4096, 3)
        return tuple(torch.cat([tok * (i + 1), tok.mean(-1, keepdim=True)], -1) for i, _ in enumerate(n))


@pytest.fixture(scope="module")
def pipe():
    return Stage2Pipeline.from_pretrained(golden_roots()[0] / "tiny" / "ckpts" / "SecondStage")


@pytest.fixture(scope="module")
def inputs():
    t, _ = load_case(golden_roots()[0], "f_stage2_sampler.safetensors")
    g = torch.Generator().manual_seed(0)
    return {"coords": t["in_coords"], "cond": t["int_cond"],
            "color": torch.rand(4, 3, 64, 64, generator=g), "normal": torch.rand(4, 3, 64, 64, generator=g)}


def test_run_produces_documented_fields_and_is_seeded(pipe, inputs):
    events = []
    res = pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2(), seed=7,
                   steps=3, progress=lambda *a: events.append(a))
    n = inputs["coords"].shape[0]
    assert res.slat.feats.shape == (n, 8) and torch.equal(res.slat.coords, inputs["coords"].int())
    assert len(res.gaussians) == 32 * n
    assert res.gaussians.positions.shape == (32 * n, 3) and res.gaussians.colors.shape == (32 * n, 3)
    assert float(res.gaussians.positions.abs().max()) <= 0.5 + 1.5 / 64
    assert res.gaussians.opacities.shape == (32 * n, 1)
    assert res.mesh_vertices.dtype == torch.float32 and res.mesh_faces.dtype == torch.int64
    assert res.mesh_ok and res.mesh_faces.shape[0] >= 100 and res.mesh_faces.shape[1] == 3
    assert float(res.mesh_vertices.abs().max()) <= 0.5 + 1e-6
    assert int(res.mesh_faces.min()) >= 0 and int(res.mesh_faces.max()) < res.mesh_vertices.shape[0]
    assert res.mesh_vertex_attrs.shape == (res.mesh_vertices.shape[0], 6)
    # progress: one stage name, monotonic, ends at total, at least one event per sampler step
    assert {e[0] for e in events} == {"stage2"}
    done = [e[1] for e in events]
    assert done == sorted(done) and done[-1] == events[-1][2] and len(events) >= 3 + 3
    assert set(res.timings) >= {"slat_sampling", "multiview_features", "decoders_and_flexicubes"}
    again = pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2(), seed=7,
                     steps=3)
    assert torch.equal(again.slat.feats, res.slat.feats)
    assert torch.equal(again.mesh_faces, res.mesh_faces)
    other = pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2(), seed=8,
                     steps=3)
    assert not torch.equal(other.slat.feats, res.slat.feats)


def test_cancel_during_sampling(pipe, inputs):
    token = CancelToken()
    calls = []

    def progress(stage, done, total, msg):
        calls.append(done)
        if done == 2:
            token.set()

    with pytest.raises(Cancelled):
        pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2(), seed=1,
                 steps=6, progress=progress, cancel=token)
    assert max(calls) == 2


def test_input_validation(pipe, inputs):
    with pytest.raises(SyncHumanError) as e:
        pipe.run(torch.zeros(0, 4, dtype=torch.int32), inputs["color"], inputs["normal"], inputs["cond"],
                 TinyDinov2(), seed=0, steps=1)
    assert e.value.code == "stage2.empty"
    with pytest.raises(ValueError):
        pipe.run(inputs["coords"], inputs["color"][:3], inputs["normal"], inputs["cond"], TinyDinov2(), seed=0,
                 steps=1)
    with pytest.raises(ValueError):
        pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], None, seed=0, steps=1)


def test_run_from_stage1_like_result(pipe, inputs):
    import numpy as np
    from types import SimpleNamespace

    hwc = lambda t: [im.permute(1, 2, 0).numpy() for im in t] + [np.ones((64, 64, 3), np.float32)]  # noqa: E731
    s1 = SimpleNamespace(coords=inputs["coords"].numpy(), colors=hwc(inputs["color"]), normals=hwc(inputs["normal"]))
    a = pipe.run_from_stage1(s1, inputs["cond"], TinyDinov2(), seed=3, steps=1)
    b = pipe.run(inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2(), seed=3, steps=1)
    assert torch.equal(a.gaussians.xyz, b.gaussians.xyz) and torch.equal(a.mesh_faces, b.mesh_faces)


def test_bf16_on_the_cpu_runs_to_finite_gaussians_and_a_mesh(inputs):
    """The CPU bf16 path (`--precision bf16` where the CPU has bf16; issue 18's full-size run): the
    flow, both decoders and FlexiCubes run in bf16 and hand back fp32 results close to fp32's."""
    root = golden_roots()[0] / "tiny" / "ckpts" / "SecondStage"
    half = Stage2Pipeline.from_pretrained(root, MemoryPolicy(dtype=torch.bfloat16))
    assert next(half.flow.parameters()).dtype == torch.bfloat16
    args = (inputs["coords"], inputs["color"], inputs["normal"], inputs["cond"], TinyDinov2())
    res = half.run(*args, seed=7, steps=2)
    ref = Stage2Pipeline.from_pretrained(root).run(*args, seed=7, steps=2)
    assert res.slat.feats.dtype == torch.float32 and res.mesh_vertices.dtype == torch.float32
    assert torch.isfinite(res.gaussians.positions.float()).all() and res.mesh_ok
    # bf16 keeps 8 bits of mantissa: after two flow steps on these random weights the features differ
    # from fp32's by ~3 % on average and ~5 % of the largest at worst (5.13 % on an AVX2-only EPYC,
    # where torch emulates bf16); a wrong dtype path or a lost cast differs by the order of the
    # features themselves
    diff = (res.slat.feats - ref.slat.feats).abs()
    worst = diff.max() / ref.slat.feats.abs().max()
    mean = diff.mean() / ref.slat.feats.abs().mean()
    assert 0 < worst < 0.08 and mean < 0.05, (float(worst), float(mean))
