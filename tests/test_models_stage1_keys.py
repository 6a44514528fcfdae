"""Full-size stage-1 networks built on the meta device from the released configs (as they are), by
the same functions our loaders build them with, list exactly the state-dict keys and shapes of the
reference (golden keys/*.json); config and weight errors name the offending key and file."""

import json

import pytest
import torch

from golden_support import golden_roots, rewrite_safetensors

from synchuman.errors import SyncHumanError
from synchuman.models.conditioning import build_clip_image_encoder, build_vae
from synchuman.models.registry import build_model, load_model, read_model_config
from synchuman.models.ss_decoder import is_half_precision_key


# the bundled root always (missing files fail), extra roots when they hold keys and configs
ROOTS = [pytest.param(r, id=r.name if i else "bundled") for i, r in enumerate(golden_roots())
         if i == 0 or ((r / "keys").is_dir() and (r / "configs").is_dir())]


def _keys(root, name):
    return {k: tuple(s) for k, s, _ in json.loads((root / "keys" / name).read_text())}


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def _compare(ours, ref):
    missing, extra = sorted(set(ref) - set(ours)), sorted(set(ours) - set(ref))
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    wrong = [(k, ours[k], ref[k]) for k in ref if ours[k] != ref[k]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("root", ROOTS)
def test_joint_model_keys(root):
    model = build_model(*read_model_config(root / "configs/OneStage/SyncHuman_2D3DCrossSpaceDiffusion"))
    ref = _keys(root, "SyncHuman_2D3DCrossSpaceDiffusion.json")
    assert len(ref) == 1397
    _compare(_shapes(model.checkpoint_state_dict()), ref)
    n = sum(p.numel() for p in model.parameters()) + model.ss_flow.pos_emb.numel()
    assert n == 1_703_663_884


@pytest.mark.parametrize("root", ROOTS)
def test_ss_decoder_keys_and_precision_policy(root):
    model = build_model(*read_model_config(root / "configs/OneStage/sparse_structure_decoder"))
    rows = json.loads((root / "keys/SparseStructureDecoder.json").read_text())
    _compare(_shapes(model.state_dict()), {k: tuple(s) for k, s, _ in rows})
    # in half precision, exactly the tensors the reference converts to fp16 are half
    assert {k for k, _, d in rows if d == "float16"} == {k for k, _, _ in rows if is_half_precision_key(k)}


@pytest.mark.parametrize("root", ROOTS)
def test_clip_image_encoder_keys(root):
    model = build_clip_image_encoder(root / "configs/OneStage/image_encoder")
    _compare(_shapes(model.state_dict()), _keys(root, "image_encoder_CLIPVisionModelWithProjection.json"))


@pytest.mark.parametrize("root", ROOTS)
def test_vae_keys(root):
    model = build_vae(root / "configs/OneStage/vae")
    _compare(_shapes(model.state_dict()), _keys(root, "vae_AutoencoderKL.json"))


# ----------------------------------------------------------------------------- errors name key and file

@pytest.fixture
def tiny_joint_copy(tmp_path):
    import shutil

    src = golden_roots()[0] / "tiny/ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion"
    dst = tmp_path / "joint"
    shutil.copytree(src, dst)
    return dst


def test_missing_unknown_and_misshaped_tensors_are_named(tiny_joint_copy):
    f = tiny_joint_copy / "diffusion_pytorch_model.safetensors"
    rewrite_safetensors(f, lambda sd: sd.pop("blocks.3.self_attn.to_qkv.weight"))
    with pytest.raises(SyncHumanError) as e:
        load_model(tiny_joint_copy)
    assert e.value.code == "weights.missing" and "blocks.3.self_attn.to_qkv.weight" in e.value.message
    assert str(f) in e.value.message and e.value.hint

    rewrite_safetensors(f, lambda sd: sd.update({"blocks.3.self_attn.to_qkv.weight": torch.zeros(96, 32),
                                      "blocks.99.extra": torch.zeros(1)}))
    with pytest.raises(SyncHumanError) as e:
        load_model(tiny_joint_copy)
    assert e.value.code == "weights.mismatch" and "blocks.99.extra" in e.value.message

    rewrite_safetensors(f, lambda sd: (sd.pop("blocks.99.extra"), sd.update({"conv_in.weight": torch.zeros(16, 4, 3, 3)})))
    with pytest.raises(SyncHumanError) as e:
        load_model(tiny_joint_copy)
    assert e.value.code == "weights.mismatch" and "conv_in.weight" in e.value.message
    assert "[16, 4, 3, 3]" in e.value.message and str(f) in e.value.message


def test_unknown_or_unsupported_config_keys_are_named(tiny_joint_copy):
    cfg_path = tiny_joint_copy / "config.json"
    raw = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(dict(raw, brand_new_option=1)))
    with pytest.raises(SyncHumanError) as e:
        load_model(tiny_joint_copy)
    assert e.value.code == "weights.mismatch" and "brand_new_option" in e.value.message
    assert str(cfg_path) in e.value.message
    cfg_path.write_text(json.dumps(dict(raw, cd_attention_mid=True)))
    with pytest.raises(SyncHumanError) as e:
        load_model(tiny_joint_copy)
    assert "cd_attention_mid" in e.value.message


def test_missing_weights_file(tmp_path):
    d = tmp_path / "ssd"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"name": "SparseStructureDecoder", "args": {"channels": [16, 8, 8],
                                                                                          "use_fp16": False}}))
    with pytest.raises(SyncHumanError) as e:
        load_model(d)
    assert e.value.code == "weights.missing" and "model.safetensors" in e.value.message


def test_ss_decoder_half_precision_load(tmp_path):
    d = golden_roots()[0] / "tiny/ckpts/OneStage/sparse_structure_decoder"
    dec = load_model(d, dtype=torch.bfloat16)
    assert dec.input_layer.weight.dtype == torch.float32 and dec.blocks[0].conv1.weight.dtype == torch.bfloat16
    assert dec.blocks[0].norm1.weight.dtype == torch.float32
    with torch.no_grad():
        out = dec(torch.randn(1, 8, 4, 4, 4))  # fully convolutional: a small grid keeps bf16-on-CPU fast
    assert out.dtype == torch.float32 and out.shape == (1, 1, 16, 16, 16)


@pytest.mark.parametrize("root", ROOTS)
def test_released_feature_extractor_and_pipeline_config_are_accepted(root):
    from synchuman.models.conditioning import load_clip_processor
    from synchuman.pipelines.stage1 import COMPONENTS

    proc = load_clip_processor(root / "configs/OneStage/feature_extractor")
    assert proc.size["shortest_edge"] == 224 and proc.crop_size["height"] == 224
    meta = json.loads((root / "configs/OneStage/pipeline_config.json").read_text())["metadata"]
    assert {n: e["class"].rsplit(".", 1)[-1] for n, e in meta.items()} == COMPONENTS
