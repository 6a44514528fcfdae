"""Conditioning pieces: fixed prompt embeddings (converted from the reference's .pt files without
unpickling objects), the noise-level embedding, VAE files with legacy attention names, uint8
truncation, and the full `Stage1Pipeline.__call__` wiring on the tiny release folder (with a stub
joint model so that it stays cheap; the real loop is golden case e)."""

import json
import shutil

import numpy as np
import pytest
import torch

from golden_support import golden_roots

from synchuman.errors import SyncHumanError
from synchuman.jobs import CancelToken
from synchuman.models.conditioning import (convert_prompt_embeds, load_prompt_embeds, load_vae, noise_level_embedding,
                                           to_uint8_images, vae_decode, vae_encode)

TINY = golden_roots()[0] / "tiny/ckpts/OneStage"


def test_prompt_embeds_convert_and_select(tmp_path):
    normal = torch.randn(7, 77, 8).half()
    clr = torch.randn(7, 77, 8).half()
    torch.save(normal, tmp_path / "normal_embeds.pt")
    torch.save(clr, tmp_path / "clr_embeds.pt")
    out = convert_prompt_embeds(tmp_path / "normal_embeds.pt", tmp_path / "clr_embeds.pt",
                                tmp_path / "w/prompt_embeds/fixed_prompt_embeds_7view.safetensors")
    pe = load_prompt_embeds(out)
    assert pe.shape == (10, 77, 8) and pe.dtype == torch.float32
    rows = [0, 2, 3, 4, 6]  # front, right, back, left, face
    assert torch.equal(pe[:5], normal[rows].float()) and torch.equal(pe[5:], clr[rows].float())


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_prompt_converter_refuses_pickled_objects(tmp_path):
    torch.save(_Evil(), tmp_path / "normal_embeds.pt")
    torch.save(torch.zeros(7, 77, 4), tmp_path / "clr_embeds.pt")
    with pytest.raises(SyncHumanError) as e:
        convert_prompt_embeds(tmp_path / "normal_embeds.pt", tmp_path / "clr_embeds.pt", tmp_path / "o.safetensors")
    assert e.value.code == "weights.corrupt" and "normal_embeds.pt" in e.value.message


def test_noise_level_embedding_of_zero():
    e = noise_level_embedding(3, 16, 0)
    assert torch.equal(e, torch.cat([torch.ones(3, 8), torch.zeros(3, 8)], dim=1))


def test_uint8_truncates_like_torchvision():
    x = torch.tensor([0.0, 0.999, 0.5, 1.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    out = to_uint8_images(x)[0]
    assert out.shape == (1, 4, 3) and out[0, :, 0].tolist() == [0, 254, 127, 255]


def test_vae_with_legacy_attention_names(tmp_path):
    from safetensors.torch import load_file, save_file

    dst = tmp_path / "vae"
    shutil.copytree(TINY / "vae", dst)
    sd = load_file(str(dst / "diffusion_pytorch_model.safetensors"))
    old = {k.replace(".to_q.", ".query.").replace(".to_k.", ".key.").replace(".to_v.", ".value.")
           .replace(".to_out.0.", ".proj_attn."): v for k, v in sd.items()}
    save_file(old, str(dst / "diffusion_pytorch_model.safetensors"))
    a, b = load_vae(TINY / "vae"), load_vae(dst)
    x = torch.rand(1, 3, 64, 64)
    za, zb = vae_encode(a, x), vae_encode(b, x)
    assert torch.equal(za, zb) and za.shape == (1, 4, 8, 8)
    img = vae_decode(a, za)
    assert img.shape == (1, 3, 64, 64) and 0 <= float(img.min()) and float(img.max()) <= 1


class _StubJoint(torch.nn.Module):
    """Stands in for the joint model: zero velocities (so the latents stay the noise)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.batches = []

    def forward(self, sample, timestep, ehs, labels, tx, tt, tcond):
        self.batches.append((sample.shape, tx.shape, tcond.shape))
        return torch.zeros_like(sample[:, :4]), torch.zeros_like(tx)


def test_pipeline_call_wiring_with_rgb_input(tmp_path):
    from safetensors.torch import save_file

    from synchuman.models.registry import read_model_config
    from synchuman.pipelines.stage1 import Stage1Pipeline

    pe = tmp_path / "prompt.safetensors"
    save_file({"normal": torch.randn(7, 77, 32), "clr": torch.randn(7, 77, 32)}, str(pe))
    pipe = Stage1Pipeline.from_pretrained(TINY, prompt_embeds_path=pe)
    _, cfg = read_model_config(TINY / "SyncHuman_2D3DCrossSpaceDiffusion")
    pipe.joint = _StubJoint(cfg)
    rgb = np.full((300, 200, 3), 235, np.uint8)
    rgb[30:280, 60:140] = (90, 60, 40)

    def fg(img):
        a = np.zeros(img.shape[:2], np.uint8)
        a[30:280, 60:140] = 255
        return a

    events = []
    res = pipe(rgb, steps=2, foreground=fg, dinov2_x_prenorm=torch.randn(1, 1374, 32),
               progress=lambda *a: events.append(a), cancel=CancelToken(), decode=False)  # decoding: case e
    assert [b[0][0] for b in pipe.joint.batches] == [20, 20] and pipe.joint.batches[0][1][0] == 2
    assert ("stage1", 2, 2, "sampling step 2/2") in events
    assert res.inputs.alpha_source == "foreground" and res.coords.shape[1] == 4
    assert res.occupancy.shape == (64, 64, 64) and len(res.coords) == int(res.occupancy.sum())
    torch.manual_seed(43)
    assert torch.equal(res.latent_3d, torch.randn(1, 8, 16, 16, 16))  # zero velocity: the seeded CPU draw
    assert res.meta["seed"] == 43 and res.timings["per_step_s"] > 0

    cancelled = CancelToken()
    cancelled.set()
    from synchuman.errors import Cancelled

    with pytest.raises(Cancelled):
        pipe(rgb, steps=2, foreground=fg, dinov2_x_prenorm=torch.randn(1, 1374, 32), cancel=cancelled)


def test_pipeline_config_errors(tmp_path):
    from synchuman.pipelines.stage1 import Stage1Pipeline

    dst = tmp_path / "OneStage"
    shutil.copytree(TINY, dst)
    cfg = json.loads((dst / "pipeline_config.json").read_text())
    cfg["metadata"]["vae"]["class"] = "diffusers.SomethingElse"
    (dst / "pipeline_config.json").write_text(json.dumps(cfg))
    with pytest.raises(SyncHumanError) as e:
        Stage1Pipeline.from_pretrained(dst, prompt_embeds_path=tmp_path / "none.safetensors")
    assert "vae" in e.value.message and "pipeline_config.json" in e.value.message
    del cfg["metadata"]["vae"]
    (dst / "pipeline_config.json").write_text(json.dumps(cfg))
    with pytest.raises(SyncHumanError) as e:
        Stage1Pipeline.from_pretrained(dst)
    assert e.value.code == "weights.missing" and "'vae'" in e.value.message


def test_weights_dir_without_dinov2(tmp_path):
    from synchuman.pipelines.stage1 import Stage1Pipeline

    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "OneStage").symlink_to(TINY)
    with pytest.raises(SyncHumanError) as e:
        Stage1Pipeline.from_weights_dir(tmp_path)
    assert e.value.code == "weights.missing" and "DINOv2" in e.value.message
