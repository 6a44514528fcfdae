"""One registry and one loader for the networks of the method that we implement ourselves.

A model folder holds ``config.json`` and a safetensors file. The config is either TRELLIS'
``{"name": class, "args": {...}}`` or diffusers' layout (``"_class_name"`` and the arguments at the
top level, as the released joint model has). The registry maps the class name to its config
dataclass (``Config.from_args(args, path)`` checks every key), its module class and its
half-precision policy; `load_model` builds the module on the meta device (no memory) and loads the
weights strictly (every key and shape; errors name the file and the key, `models.loading`).

The third-party networks (CLIP image encoder, SD VAE) and DINOv2 have loaders of their own in
`models.conditioning` and `models.dinov2`: their configs are transformers'/diffusers' own and
DINOv2 comes as Meta's `.pth`, but they load through the same strict `load_safetensors_into` /
`check_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .joint import JointModel, JointModelConfig
from .loading import build_on_meta, config_error, load_safetensors_into, read_json
from .slat_decoders import SLatDecoderConfig, SLatGaussianDecoder, SLatMeshDecoder
from .slat_flow import SLatFlowConfig, SLatFlowModel
from .ss_decoder import SparseStructureDecoder, SSDecoderConfig, is_half_precision_key

HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class ModelSpec:
    config: type                          # dataclass with from_args(args: dict, path) -> config
    module: Callable[[object], nn.Module]  # module(config)
    weights_file: str = "model.safetensors"
    to_file_key: Callable[[str], str] | None = None    # module key -> key in the weights file
    # Which tensors (module keys) take a half dtype; the others stay float32 (the reference's
    # use_fp16 islands). None: every float tensor takes the dtype asked for.
    half_precision: Callable[[str], bool] | None = None


REGISTRY: dict[str, ModelSpec] = {
    "SyncHuman_2D3DCrossSpaceDiffusion": ModelSpec(JointModelConfig, JointModel,
                                                   "diffusion_pytorch_model.safetensors", JointModel.checkpoint_key),
    "SparseStructureDecoder": ModelSpec(SSDecoderConfig, SparseStructureDecoder,
                                        half_precision=is_half_precision_key),
    "SLatFlowModel": ModelSpec(SLatFlowConfig, SLatFlowModel),
    "SLatGaussianDecoder": ModelSpec(SLatDecoderConfig, SLatGaussianDecoder),
    "SLatMeshDecoder": ModelSpec(SLatDecoderConfig, SLatMeshDecoder),
}


def read_model_config(folder: str | Path) -> tuple[str, object]:
    """(class name, config dataclass) from ``folder/config.json``."""
    path = Path(folder) / "config.json"
    data = read_json(path)
    if isinstance(data, dict) and "name" in data and "args" in data:
        name, args = data["name"], data["args"]
    elif isinstance(data, dict) and "_class_name" in data:
        name, args = data["_class_name"], data
    else:
        raise config_error(path, "name", "not a model config ({'name', 'args'} or diffusers' '_class_name')")
    if name not in REGISTRY:
        raise config_error(path, "name", f"unknown model class {name!r}; expected one of {sorted(REGISTRY)}")
    return name, REGISTRY[name].config.from_args(args, path)


def build_model(name: str, config, device: str | torch.device = "meta") -> nn.Module:
    """The network with uninitialised weights (on the meta device by default: no memory)."""
    with torch.device(device):
        return REGISTRY[name].module(config)


def load_model(folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               expected_name: str | None = None) -> nn.Module:
    """The network `folder/config.json` names, built on the meta device, with its weights file loaded
    strictly and cast to `dtype` on `device` (half dtypes: only the tensors the model's
    half-precision policy names). Device "meta" only checks the file's keys and shapes."""
    folder = Path(folder)
    name, config = read_model_config(folder)
    if expected_name and name != expected_name:
        raise config_error(folder / "config.json", "name", f"describes {name}, expected {expected_name}")
    spec = REGISTRY[name]
    model = build_on_meta(lambda: spec.module(config))
    keep_fp32 = None
    if spec.half_precision is not None and dtype in HALF_DTYPES:
        keep_fp32 = lambda key: not spec.half_precision(key)  # noqa: E731
    return load_safetensors_into(model, folder / spec.weights_file, to_file_key=spec.to_file_key or (lambda k: k),
                                 device=device, dtype=dtype, keep_fp32=keep_fp32)
