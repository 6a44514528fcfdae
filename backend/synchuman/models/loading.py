"""Reading configs and safetensors weights strictly, with errors that name the key and the file.

Networks are built on the meta device (no memory), then every tensor of the file is checked
against the module's expected keys and shapes and assigned, converted to the requested device and
dtype one tensor at a time (so a 3.4 GB checkpoint never needs two copies in memory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..errors import SyncHumanError

WEIGHTS_HINT = ("The weights folder does not match this version of SyncHuman. Re-download it with "
                "`synchuman weights download` (or point --weights at a complete copy of ckpts/).")


def read_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SyncHumanError("weights.missing", f"Missing file: {path}", WEIGHTS_HINT, {"file": str(path)})
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SyncHumanError("weights.mismatch", f"Cannot read {path}: {exc}", WEIGHTS_HINT, {"file": str(path)})


def config_error(path: Path, key: str, message: str) -> SyncHumanError:
    return SyncHumanError("weights.mismatch", f"{path}: {message}", WEIGHTS_HINT, {"file": str(path), "key": key})


def dataclass_from_args(cls, args: dict, path: Path, *, tuples: tuple[str, ...] = ()):
    """`cls(**args)` for a config dataclass; an unknown key is a `weights.mismatch` naming the key
    and the file. JSON lists of the fields named in `tuples` become tuples."""
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(args, dict):
        raise config_error(path, "args", "the model arguments are not a JSON object")
    for key in args:
        if key not in known:
            raise config_error(path, key, f"unknown config key {key!r}")
    return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in args.items()})


def require(ok: bool, path: Path, key: str, message: str) -> None:
    """A config check: `weights.mismatch` naming `key` and the file unless `ok`."""
    if not ok:
        raise config_error(path, key, message)


@contextlib.contextmanager
def open_safetensors(path: Path):
    """`safe_open` whose failures (truncated or damaged files) are `weights.corrupt` errors naming the file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SyncHumanError("weights.missing", f"Missing weights file: {path}", WEIGHTS_HINT, {"file": str(path)})
    try:
        with safe_open(str(path), framework="pt") as f:
            yield f
    except SyncHumanError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for damaged files
        raise SyncHumanError("weights.corrupt", f"{path} is damaged or truncated ({exc})",
                             "Delete it and run `synchuman weights download` again (it resumes).",
                             {"file": str(path)}) from None


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file (damaged files: `weights.corrupt`)."""
    with open_safetensors(path) as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor in a safetensors file (reads only the header)."""
    with open_safetensors(path) as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def check_keys(expected: dict[str, tuple], found: dict[str, tuple], path: Path) -> None:
    """Raise weights.missing / weights.mismatch naming the first offending keys and the file."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [(k, expected[k], found[k]) for k in expected if k in found and tuple(expected[k]) != tuple(found[k])]
    details = {"file": str(path), "missing": missing[:20], "unexpected": unexpected[:20],
               "shape_mismatch": [[k, list(e), list(f)] for k, e, f in wrong[:20]]}
    if missing:
        raise SyncHumanError("weights.missing",
                             f"{path}: {len(missing)} expected tensor(s) missing, first: {missing[0]!r}"
                             + (f" (and {len(unexpected)} unexpected, first {unexpected[0]!r})" if unexpected else ""),
                             WEIGHTS_HINT, details)
    if unexpected:
        raise SyncHumanError("weights.mismatch",
                             f"{path}: {len(unexpected)} unknown tensor(s), first: {unexpected[0]!r}",
                             WEIGHTS_HINT, details)
    if wrong:
        k, e, f = wrong[0]
        raise SyncHumanError("weights.mismatch",
                             f"{path}: tensor {k!r} has shape {list(f)}, expected {list(e)}"
                             + (f" ({len(wrong)} mismatches)" if len(wrong) > 1 else ""),
                             WEIGHTS_HINT, details)


def expected_shapes(module: nn.Module, to_file_key: Callable[[str], str] = lambda k: k) -> dict[str, tuple]:
    return {to_file_key(k): tuple(v.shape) for k, v in module.state_dict().items()}


def load_safetensors_into(module: nn.Module, path: Path, *, to_file_key: Callable[[str], str] = lambda k: k,
                          device="cpu", dtype: torch.dtype | None = None,
                          keep_fp32: Callable[[str], bool] | None = None,
                          fill_buffers: Callable[[nn.Module, torch.device], None] | None = None) -> nn.Module:
    """Strictly load `path` into `module` (typically built on the meta device) and move it to
    `device`/`dtype` (device "meta": only check the file's keys and shapes). Float tensors are cast to `dtype` unless keep_fp32(module_key) says so.
    Non-persistent buffers and any tensor absent from the file are materialised from the module's
    own values (they must not be on the meta device then) or computed by `fill_buffers(module, device)`."""
    path = Path(path)
    module_keys = {to_file_key(k): k for k in module.state_dict().keys()}
    check_keys(expected_shapes(module, to_file_key), safetensors_shapes(path), path)
    if torch.device(device).type == "meta":  # a check only (`synchuman weights verify`): no tensor is read
        return module
    state = {}
    with open_safetensors(path) as f:
        for fk, mk in module_keys.items():
            t = f.get_tensor(fk)
            if dtype is not None and t.is_floating_point() and not (keep_fp32 and keep_fp32(mk)):
                t = t.to(dtype)
            elif t.is_floating_point() and dtype is None:
                t = t.float()
            state[mk] = t.to(device)
    module.load_state_dict(state, strict=True, assign=True)
    if fill_buffers is not None:
        fill_buffers(module, torch.device(device))
    for name, buf in list(module.named_buffers()):
        if buf.is_meta:
            raise SyncHumanError("weights.missing", f"{path}: buffer {name!r} was not loaded", WEIGHTS_HINT,
                                 {"file": str(path), "key": name})
    return module.eval().requires_grad_(False)


def build_on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return factory()
