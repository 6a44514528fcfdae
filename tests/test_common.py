"""The backend's shared constants (`synchuman.common`) and the copies the Blender extension keeps
(it cannot import the backend): both must agree, or a photo the add-on offers would be refused by
the batch, or a job folder named differently from the add-on's copy of the photo."""

from __future__ import annotations

import pytest

from synchuman.common import PHOTO_SUFFIXES, safe_name

NAMES = ["photo", "My Photo (1)", "../../etc/passwd", "a/b\\c:d", "фото-1", "..", "", "名前.png",
         " spaced  out ", "x" * 80, "-_-.tar.gz"]


def test_extension_accepts_the_same_photo_suffixes():
    from synchuman_blender import protocol

    assert tuple(protocol.PHOTO_SUFFIXES) == PHOTO_SUFFIXES


@pytest.mark.parametrize("name", NAMES)
def test_extension_safe_name_agrees(name):
    """Up to 80 characters (the backend also truncates longer folder names to 80)."""
    from synchuman_blender.protocol import safe_name as extension_safe_name

    assert extension_safe_name(name) == safe_name(name)


@pytest.mark.parametrize("name", NAMES)
def test_safe_name_cannot_escape_the_folder(name):
    out = safe_name(name)
    assert out and "/" not in out and "\\" not in out and out not in (".", "..") and len(out) <= 80
