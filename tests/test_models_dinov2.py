"""DINOv2 with registers: our module loads both weight formats (HF safetensors, torch-hub .pth via
weights_only) and produces the same x_prenorm tokens as transformers' Dinov2WithRegistersModel,
also at a resolution that needs position-embedding interpolation; the conditioning layer norm
matches golden case g."""

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case

from synchuman.errors import SyncHumanError
from synchuman.models.dinov2 import DinoV2Config, condition_tokens, load_dinov2

CFG = DinoV2Config(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_register_tokens=4)


@pytest.fixture(scope="module")
def hf_model():
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    hc = Dinov2WithRegistersConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                                   image_size=16, patch_size=4, num_register_tokens=4, layerscale_value=1.0,
                                   layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=True, use_swiglu_ffn=False)
    torch.manual_seed(0)
    m = Dinov2WithRegistersModel(hc).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if p.ndim == 1 and p.shape[0] == 32 else 0.0))
    return m


def _hf_prenorm(m, x):
    with torch.no_grad():
        return m(pixel_values=x, output_hidden_states=True).hidden_states[-1]


@pytest.mark.parametrize("size", [16, 24])
def test_hf_safetensors_and_hub_pth_match_transformers(hf_model, tmp_path, size):
    from safetensors.torch import save_file

    st = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf_model.state_dict().items()}, str(st))
    ours = load_dinov2(st, CFG)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    ref = _hf_prenorm(hf_model, x)
    with torch.no_grad():
        got = ours(x)
    assert got.shape == (2, 1 + 4 + (size // 4) ** 2, 32)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=2e-5)
    # the torch-hub format (a plain state dict saved with torch.save) loads with weights_only
    pth = tmp_path / "dinov2_reg4_pretrain.pth"
    torch.save(ours.state_dict(), pth)
    # the names the files on the Hugging Face Hub use (before transformers 5 renamed them)
    old = {k.replace("attention.q_proj", "attention.attention.query").replace("attention.k_proj", "attention.attention.key")
           .replace("attention.v_proj", "attention.attention.value").replace("attention.o_proj", "attention.output.dense"): v
           for k, v in hf_model.state_dict().items()}
    st_old = tmp_path / "hub_names.safetensors"
    save_file({k: v.contiguous() for k, v in old.items()}, str(st_old))
    with torch.no_grad():
        torch.testing.assert_close(load_dinov2(st_old, CFG)(x), got, atol=0, rtol=0)
    hub = load_dinov2(pth, CFG)
    with torch.no_grad():
        torch.testing.assert_close(hub(x), got, atol=0, rtol=0)
        inter = hub.get_intermediate_layers(x, [0, 1])
    assert len(inter) == 2 and inter[1].shape == (2, (size // 4) ** 2, 32)


def test_wrong_weights_name_the_key(tmp_path, hf_model):
    pth = tmp_path / "bad.pth"
    torch.save({"cls_token": torch.zeros(1, 1, 32)}, pth)
    with pytest.raises(SyncHumanError) as e:
        load_dinov2(pth, CFG)
    assert e.value.code == "weights.missing" and "bad.pth" in e.value.message


@pytest.mark.parametrize("root", golden_cases("g_dinov2_glue.safetensors"))
def test_condition_layer_norm_matches_reference(root):
    c, _ = load_case(root, "g_dinov2_glue.safetensors")
    assert_close(condition_tokens(c["ln_in_x_prenorm"]), c["ln_out_cond"], 1e-5, "ln_out_cond")
