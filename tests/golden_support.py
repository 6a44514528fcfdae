"""Where golden reference cases live: the bundled copy of ../shared/golden, or the folders
listed in SYNCHUMAN_EXTRA_GOLDEN (paths separated by ':'), each laid out the same way
(README.md, tiny/ckpts/{OneStage,SecondStage}, cases/*.safetensors, keys/, configs/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

BUNDLED_GOLDEN = Path(__file__).parent / "golden"


def golden_roots() -> list[Path]:
    roots = [BUNDLED_GOLDEN]
    extra = os.environ.get("SYNCHUMAN_EXTRA_GOLDEN", "")
    roots += [Path(p).expanduser() for p in extra.split(":") if p.strip()]
    return roots


def golden_cases(filename: str) -> list[pytest.param]:
    """pytest params (marked `golden`): the bundled root always (a missing bundled case file then
    fails the test instead of leaving an empty, silently skipped parameter list) and every extra
    root that holds cases/<filename>; ids name the root."""
    params = []
    for i, root in enumerate(golden_roots()):
        if i == 0 or (root / "cases" / filename).is_file():
            params.append(pytest.param(root, id="bundled" if i == 0 else f"extra{i}:{root.name}",
                                       marks=pytest.mark.golden))
    return params


def load_case(root: Path, filename: str) -> tuple[dict, dict]:
    """(tensors, meta) of one case file; meta is the JSON in the header's `meta` entry."""
    from safetensors import safe_open

    path = root / "cases" / filename
    assert path.is_file(), f"golden case {path} is missing (copy ../shared/golden/cases into tests/golden/cases)"
    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("meta", "{}"))
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, meta


def assert_close(actual, expected, rel: float = 1e-4, name: str = "") -> None:
    """The golden README's acceptance rule: |a - e| <= rel * max(1, |e|) elementwise."""
    import torch

    actual = torch.as_tensor(actual).double()
    expected = torch.as_tensor(expected).double()
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    bound = rel * torch.clamp(expected.abs(), min=1.0)
    err = (actual - expected).abs()
    worst = float((err / bound).max()) if err.numel() else 0.0
    assert worst <= 1.0, (f"{name}: max |diff| {float(err.max()):.3g} exceeds tolerance "
                          f"(worst ratio {worst:.3g} of rel={rel})")


def rewrite_safetensors(path, edit) -> None:
    """Loads a safetensors file, lets `edit(state_dict)` change it in place, writes it back (to damage
    a copied checkpoint on purpose)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))
