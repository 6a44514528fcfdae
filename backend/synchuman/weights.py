"""Where the SyncHuman weights live and whether they are complete.

One weights folder holds the released `ckpts/OneStage` and `ckpts/SecondStage` layout
(HuggingFace `xishushu/SyncHuman`) plus DINOv2 ViT-L/14-reg. It is chosen by, in order:
the `--weights DIR` option, the SYNCHUMAN_WEIGHTS environment variable, and the default
folder in the user's data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

HF_REPO = "xishushu/SyncHuman"
ENV_VAR = "SYNCHUMAN_WEIGHTS"

# Files whose absence makes the synchuman engine unusable (weights named as the release names them).
REQUIRED_FILES = (
    "ckpts/OneStage/pipeline_config.json",
    "ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion/config.json",
    "ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion/diffusion_pytorch_model.safetensors",
    "ckpts/OneStage/vae/config.json",
    "ckpts/OneStage/vae/diffusion_pytorch_model.safetensors",
    "ckpts/OneStage/image_encoder/config.json",
    "ckpts/OneStage/image_encoder/model.safetensors",
    "ckpts/OneStage/feature_extractor/preprocessor_config.json",
    "ckpts/OneStage/sparse_structure_decoder/config.json",
    "ckpts/OneStage/sparse_structure_decoder/model.safetensors",
    "ckpts/SecondStage/pipeline.json",
    "ckpts/SecondStage/ckpts/slat_flow/config.json",
    "ckpts/SecondStage/ckpts/slat_flow/model.safetensors",
    "ckpts/SecondStage/ckpts/decoder_GS/config.json",
    "ckpts/SecondStage/ckpts/decoder_GS/model.safetensors",
    "ckpts/SecondStage/ckpts/decoder_Mesh/config.json",
    "ckpts/SecondStage/ckpts/decoder_Mesh/model.safetensors",
)
# DINOv2 ViT-L/14 with registers: either file format is accepted.
DINOV2_CANDIDATES = ("dinov2_vitl14_reg/model.safetensors", "dinov2_vitl14_reg4_pretrain.pth")


def default_weights_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("synchuman", appauthor=False)) / "weights"


def resolve_weights_dir(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(folder, where the choice came from)."""
    if explicit:
        return Path(explicit).expanduser().resolve(), "--weights"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve(), ENV_VAR
    return default_weights_dir(), "default"


def missing_files(root: Path) -> list[str]:
    """Relative paths of required files absent from `root` (empty when complete)."""
    missing = [rel for rel in REQUIRED_FILES if not (root / rel).is_file()]
    if not any((root / c).is_file() for c in DINOV2_CANDIDATES):
        missing.append(" or ".join(DINOV2_CANDIDATES))
    return missing


def weights_status(explicit: str | os.PathLike | None = None) -> dict:
    root, source = resolve_weights_dir(explicit)
    missing = missing_files(root)
    return {"dir": str(root), "source": source, "present": not missing, "missing": missing,
            "fix": "" if not missing else f"synchuman weights download --dir {root}"}
