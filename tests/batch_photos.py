"""A folder of photos for batch tests: copies of the bundled example plus broken files."""

from __future__ import annotations

import shutil
from pathlib import Path


def make_folder(example_photo: Path, root: Path, good: int, broken: int = 1) -> Path:
    photos = root / "photos"
    photos.mkdir()
    for i in range(good):
        shutil.copyfile(example_photo, photos / f"person_{i}.png")
    for i in range(broken):
        (photos / f"broken_{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "notes.txt").write_text("ignored: not an image")
    return photos
