"""A complete tiny weights folder for end-to-end tests of the synchuman engine, in the release's layout.

The golden set's tiny checkpoints (tests/golden/tiny/ckpts) were made one network at a time, so they do
not fit together: the stage-1 3D branch and the stage-2 flow expect 32-wide DINOv2 tokens while the
tiny decoders expect 16-wide multiview features. This builds a consistent set, deterministically:

- ckpts/OneStage: the golden tiny stage 1, except the sparse-structure decoder's last bias, lowered so
  that a few hundred voxels are occupied instead of half the grid (random weights give an odd shape);
- ckpts/SecondStage: the golden tiny flow; both decoders rebuilt with mv_dim 32 (4 DINOv2 layers x 32
  channels), keeping every golden tensor whose shape still fits;
- dinov2/dinov2_vitl14_reg4_pretrain.pth: a 24-block, 32-wide ViT/14 with 4 registers, saved with
  torch.save as Meta's torch-hub file is (read back with weights_only=True);
- prompt_embeds/fixed_prompt_embeds_7view.safetensors: the golden prompt rows in their 7-view slots;
- background/u2net.onnx: a two-layer ONNX graph with U²-Net's interface (input (1, 3, 320, 320), several
  outputs of which the first is the mask) whose mask is "not green": it cuts a person out of a green
  screen, so the chain through the background-removal step is checked on a plain RGB photo.

    python tests/tiny_weights.py DEST      # or make_tiny_weights(dest) from a fixture
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

TESTS = Path(__file__).parent
GOLDEN = TESTS / "golden"
MV_DIM = 32
SS_LOGIT_SHIFT = -1.3   # lowers every occupancy logit of the tiny SS decoder
PROMPT_ROWS = (0, 2, 3, 4, 6)  # front, right, back, left, face among the 7 prompt views


def _init_like(name: str, shape: tuple, generator):
    """Random weights in the golden set's scheme: N(0,1)/sqrt(fan_in), norm weights 1 + 0.1N, 0.1N otherwise."""
    import torch

    if len(shape) > 1:
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        return torch.randn(shape, generator=generator) / fan_in ** 0.5
    value = 0.1 * torch.randn(shape, generator=generator)
    return value + 1.0 if name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "gamma")) else value


def _rebuild_decoder(folder: Path, generator) -> None:
    from safetensors.torch import load_file, save_file

    from synchuman.models.registry import build_model, read_model_config

    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["args"]["mv_dim"] = MV_DIM
    config_path.write_text(json.dumps(config, indent=2))
    name, cfg = read_model_config(folder)
    model = build_model(name, cfg, "cpu")
    golden = load_file(str(folder / "model.safetensors"))
    state = {}
    for key, value in model.state_dict().items():
        old = golden.get(key)
        if old is not None and tuple(old.shape) == tuple(value.shape):
            state[key] = old
        elif key in dict(model.named_buffers()):
            state[key] = value.clone()
        else:
            state[key] = _init_like(key, tuple(value.shape), generator)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))


def _tiny_dinov2(path: Path, generator) -> None:
    import torch

    from synchuman.models.dinov2 import DinoV2, DinoV2Config

    cfg = DinoV2Config(embed_dim=32, depth=24, num_heads=1)
    model = DinoV2(cfg)
    state = {k: _init_like(k, tuple(v.shape), generator) for k, v in model.state_dict().items()}
    for key in state:
        if key.endswith("ls1.gamma") or key.endswith("ls2.gamma"):
            state[key] = torch.full_like(state[key], 0.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def _prompt_embeds(path: Path, generator) -> None:
    import torch
    from safetensors.torch import save_file

    from golden_support import load_case

    tensors, _ = load_case(GOLDEN, "e_stage1_sampler.safetensors")
    rows = tensors["in_prompt_embeds"]  # (10, 77, 32): normal views 0..4, colour views 0..4
    out = {}
    for name, block in (("normal", rows[:5]), ("clr", rows[5:])):
        full = 0.5 * torch.randn(7, *block.shape[1:], generator=generator)
        full[list(PROMPT_ROWS)] = block
        out[name] = full.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path))


# 1x1 convolution over the normalised RGB: high on people, low on a green screen.
GREEN_SCREEN_WEIGHTS = (0.5, -1.0, 0.5)
GREEN_SCREEN_BIAS = 1.0


def make_tiny_u2net(path: Path, input_size: int = 320) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.array(GREEN_SCREEN_WEIGHTS, np.float32).reshape(1, 3, 1, 1)
    nodes = [
        helper.make_node("Conv", ["input.1", "w", "b"], ["score"], kernel_shape=[1, 1]),
        helper.make_node("Mul", ["score", "gain"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["d0"]),
        helper.make_node("Neg", ["scaled"], ["negated"]),
        helper.make_node("Sigmoid", ["negated"], ["d1"]),   # a side output: the inverse mask
    ]
    shape = [1, 3, input_size, input_size]
    graph = helper.make_graph(
        nodes, "tiny_u2net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, input_size, input_size])
         for name in ("d0", "d1")],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.array([GREEN_SCREEN_BIAS], np.float32), "b"),
         numpy_helper.from_array(np.array(4.0, np.float32), "gain")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_tiny_weights(dest: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    dest = Path(dest)
    generator = torch.Generator().manual_seed(20261123)
    shutil.copytree(GOLDEN / "tiny" / "ckpts", dest / "ckpts", dirs_exist_ok=True)
    ss = dest / "ckpts" / "OneStage" / "sparse_structure_decoder" / "model.safetensors"
    state = load_file(str(ss))
    state["out_layer.2.bias"] = state["out_layer.2.bias"] + SS_LOGIT_SHIFT
    save_file(state, str(ss))
    for name in ("decoder_GS", "decoder_Mesh"):
        _rebuild_decoder(dest / "ckpts" / "SecondStage" / "ckpts" / name, generator)
    _tiny_dinov2(dest / "dinov2" / "dinov2_vitl14_reg4_pretrain.pth", generator)
    _prompt_embeds(dest / "prompt_embeds" / "fixed_prompt_embeds_7view.safetensors", generator)
    make_tiny_u2net(dest / "background" / "u2net.onnx")
    return dest


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))
    print(make_tiny_weights(Path(sys.argv[1])))
