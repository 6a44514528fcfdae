"""Full-size stage-2 networks built on the meta device from the released configs list exactly
the keys and shapes of golden/keys/, and the loader's errors name the offending key and file."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from golden_support import golden_roots, rewrite_safetensors
from synchuman.errors import SyncHumanError
from synchuman.models.registry import build_model, load_model, read_model_config
from synchuman.pipelines.stage2 import Stage2Pipeline

NETWORKS = [("slat_flow", "SLatFlowModel"), ("decoder_GS", "SLatGaussianDecoder"),
            ("decoder_Mesh", "SLatMeshDecoder")]


def _roots_with(rel):
    """The bundled root always (a missing file fails), extra roots when they hold `rel`."""
    return [pytest.param(r, id=r.name if i else "bundled") for i, r in enumerate(golden_roots())
            if i == 0 or (r / rel).exists()]


@pytest.mark.parametrize("folder,name", NETWORKS)
@pytest.mark.parametrize("root", _roots_with("keys"))
def test_full_size_keys_and_shapes(root, folder, name):
    keys_file = root / "keys" / f"{name}.json"
    if not keys_file.is_file():
        pytest.skip(f"{keys_file} not in this golden folder")
    cname, config = read_model_config(root / "configs" / "SecondStage" / "ckpts" / folder)
    assert cname == name
    model = build_model(cname, config, "meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    ref = {k: list(shape) for k, shape, _dtype in json.loads(keys_file.read_text())}
    assert sorted(set(ref) - set(ours)) == [], "keys the released checkpoint has and we do not"
    assert sorted(set(ours) - set(ref)) == [], "keys we have that the released checkpoint does not"
    wrong = {k: (ours[k], ref[k]) for k in ref if ours[k] != ref[k]}
    assert wrong == {}
    assert all(t.is_meta for t in model.state_dict().values())


@pytest.fixture
def tiny_copy(tmp_path):
    src = golden_roots()[0] / "tiny" / "ckpts" / "SecondStage"
    dst = tmp_path / "SecondStage"
    shutil.copytree(src, dst)
    return dst


def test_loader_names_missing_key_and_file(tiny_copy):
    path = tiny_copy / "ckpts" / "slat_flow" / "model.safetensors"
    rewrite_safetensors(path, lambda sd: sd.pop("blocks.1.self_attn.to_qkv.weight"))
    with pytest.raises(SyncHumanError) as e:
        load_model(path.parent)
    assert e.value.code == "weights.missing"
    assert "blocks.1.self_attn.to_qkv.weight" in e.value.message and str(path) in e.value.message
    assert e.value.hint


def test_loader_names_shape_mismatch_and_unexpected_key(tiny_copy):
    path = tiny_copy / "ckpts" / "decoder_GS" / "model.safetensors"
    rewrite_safetensors(path, lambda sd: sd.__setitem__("out_layer.bias", torch.zeros(7)))
    with pytest.raises(SyncHumanError) as e:
        load_model(path.parent)
    assert e.value.code == "weights.mismatch" and "out_layer.bias" in e.value.message and str(path) in e.value.message
    rewrite_safetensors(path, lambda sd: (sd.__setitem__("out_layer.bias", torch.zeros(448)), sd.__setitem__("extra.w", torch.zeros(1))))
    with pytest.raises(SyncHumanError) as e:
        load_model(path.parent)
    assert e.value.code == "weights.mismatch" and "extra.w" in e.value.message


def test_missing_files_and_bad_config(tiny_copy):
    (tiny_copy / "ckpts" / "decoder_Mesh" / "model.safetensors").unlink()
    with pytest.raises(SyncHumanError) as e:
        Stage2Pipeline.from_pretrained(tiny_copy)
    assert e.value.code == "weights.missing" and "decoder_Mesh" in e.value.message
    cfg = tiny_copy / "ckpts" / "slat_flow" / "config.json"
    data = json.loads(cfg.read_text())
    data["args"]["bogus"] = 1
    cfg.write_text(json.dumps(data))
    with pytest.raises(SyncHumanError) as e:
        load_model(cfg.parent)
    assert "bogus" in e.value.message and str(cfg) in e.value.message
    (tiny_copy / "pipeline.json").unlink()
    with pytest.raises(SyncHumanError) as e:
        Stage2Pipeline.from_pretrained(tiny_copy)
    assert e.value.code == "weights.missing" and "pipeline.json" in e.value.message
