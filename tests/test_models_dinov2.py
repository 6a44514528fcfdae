"""DINOv2 with registers: our module loads both weight formats (HF safetensors, torch-hub .pth via
weights_only) and produces the same x_prenorm tokens as transformers' Dinov2WithRegistersModel,
also at a resolution that needs position-embedding interpolation; the conditioning layer norm
matches golden case g."""

import pytest
import torch

from golden_support import assert_close, golden_cases, load_case

from synchuman.errors import SyncHumanError
from synchuman.models.dinov2 import DinoV2, DinoV2Config, condition_tokens, load_dinov2
from synchuman.models.loading import build_on_meta

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


def meta_hub_keys(dim=1024, depth=24, patch=14, grid=37, registers=4, mlp=4096) -> dict:
    """Key -> shape of Meta's torch-hub checkpoint (`dinov2_vitl14_reg4_pretrain.pth`), from the
    hub's `DinoVisionTransformer` (ViT-L/14, 4 registers, layer scale, 518^2 position grid); smaller
    arguments give the same naming at test size. Written out here, independent of our module."""
    keys = {"cls_token": (1, 1, dim), "pos_embed": (1, 1 + grid * grid, dim), "register_tokens": (1, registers, dim),
            "mask_token": (1, dim), "patch_embed.proj.weight": (dim, 3, patch, patch), "patch_embed.proj.bias": (dim,),
            "norm.weight": (dim,), "norm.bias": (dim,)}
    for i in range(depth):
        b = f"blocks.{i}."
        keys.update({b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "attn.qkv.weight": (3 * dim, dim),
                     b + "attn.qkv.bias": (3 * dim,), b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                     b + "ls1.gamma": (dim,), b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                     b + "mlp.fc1.weight": (mlp, dim), b + "mlp.fc1.bias": (mlp,), b + "mlp.fc2.weight": (dim, mlp),
                     b + "mlp.fc2.bias": (dim,), b + "ls2.gamma": (dim,)})
    return keys


def test_full_size_module_has_the_keys_of_metas_checkpoint():
    model = build_on_meta(lambda: DinoV2(DinoV2Config()))
    ref = meta_hub_keys()
    assert len(ref) == 344
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == ref


def test_a_pth_in_metas_naming_loads_every_tensor(tmp_path):
    """A .pth with Meta's names (not made from our state dict) loads strictly, each tensor in place;
    the architecture is read from the file."""
    g = torch.Generator().manual_seed(3)
    sd = {k: torch.randn(*s, generator=g) for k, s in meta_hub_keys(dim=32, depth=2, patch=4, grid=4, mlp=128).items()}
    pth = tmp_path / "dinov2_vitl14_reg4_pretrain.pth"
    torch.save(sd, pth)
    model = load_dinov2(pth)
    assert (model.config.embed_dim, model.config.depth, model.config.img_size) == (32, 2, 16)
    ours = model.state_dict()
    assert set(ours) == set(sd) and all(torch.equal(ours[k], sd[k]) for k in sd)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 16, generator=g)).shape == (1, 1 + 4 + 16, 32)


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
