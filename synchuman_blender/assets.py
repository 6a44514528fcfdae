"""Asset marking, catalogs and asset-library files for imported humans.

Catalogs live in `blender_assets.cats.txt` at the root of an asset library (or next to the
.blend for assets of the current file). Blender has no Python API to create catalogs, so the
file is written here in its documented format: "VERSION 1", then `UUID:path:simple-name` lines.
"""

from __future__ import annotations

import os
import re
import uuid

import bpy
import numpy as np

from .protocol import safe_name

CATS_FILE = "blender_assets.cats.txt"
PREVIEW_SIZE = 256
_CATS_HEADER = (
    "# This is an Asset Catalog Definition file for Blender.\n"
    "#\n"
    "# Empty lines and lines starting with `#` will be ignored.\n"
    "# The first non-ignored line should be the version indicator.\n"
    '# Other lines are of the format "UUID:catalog/path/for/assets:simple catalog name"\n'
    "\n"
    "VERSION 1\n"
    "\n"
)


def normalise_catalog_path(path: str) -> str:
    parts = [p.strip() for p in re.split(r"[/\\]+", path or "") if p.strip()]
    return "/".join(parts)


def simple_name(path: str) -> str:
    return normalise_catalog_path(path).replace("/", "-")


def read_catalogs(folder: str) -> dict[str, str]:
    """{catalog path: uuid} from the folder's catalog file ({} when there is none)."""
    found: dict[str, str] = {}
    try:
        with open(os.path.join(folder, CATS_FILE), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("VERSION"):
            continue
        parts = line.split(":", 2)
        if len(parts) >= 2:
            found[parts[1]] = parts[0]
    return found


def ensure_catalog(folder: str, catalog_path: str, preferred_uuid: str = "") -> str:
    """The UUID of `catalog_path` in the folder's catalog file, creating the file or the entry
    (with `preferred_uuid` when given) when missing."""
    catalog_path = normalise_catalog_path(catalog_path)
    if not catalog_path:
        raise ValueError("empty catalog path")
    existing = read_catalogs(folder)
    if catalog_path in existing:
        return existing[catalog_path]
    cat_uuid = preferred_uuid if _is_uuid(preferred_uuid) and preferred_uuid not in existing.values() \
        else str(uuid.uuid4())
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, CATS_FILE)
    new_file = not os.path.isfile(path)
    with open(path, "a", encoding="utf-8") as f:
        if new_file:
            f.write(_CATS_HEADER)
        f.write(f"{cat_uuid}:{catalog_path}:{simple_name(catalog_path)}\n")
    return cat_uuid


def _is_uuid(text: str) -> bool:
    try:
        return bool(text) and uuid.UUID(text).int != 0
    except ValueError:
        return False


def catalog_folder(library_dir: str = "") -> str:
    """Where the catalog file for a new asset belongs: the library folder when writing one,
    else the folder of the saved .blend; "" for an unsaved file."""
    if library_dir:
        return bpy.path.abspath(library_dir)
    if bpy.data.filepath:
        return os.path.dirname(bpy.data.filepath)
    return ""


def rig_of(obj):
    """The armature a human mesh is bound to (its parent), or None."""
    parent = getattr(obj, "parent", None)
    return parent if parent is not None and parent.type == 'ARMATURE' else None


def mark_as_asset(obj, *, catalog_path: str = "", tags=(), author: str = "", description: str = "",
                  library_dir: str = "", preview_from: str = "") -> str:
    """Marks `obj` as an asset with metadata, and its armature (a rigged human) with the same;
    returns the catalog UUID ("" when none).

    The preview is rendered by Blender when a GPU context exists (the UI); in background runs,
    or when that is not possible, it is made from the image at `preview_from` (the photo)."""
    cat_uuid = ""
    catalog_path = normalise_catalog_path(catalog_path)
    if catalog_path:
        folder = catalog_folder(library_dir)
        cat_uuid = ensure_catalog(folder, catalog_path) if folder else str(uuid.uuid4())
    for target in filter(None, (obj, rig_of(obj))):
        target.asset_mark()
        data = target.asset_data
        for tag in tags:
            tag = tag.strip()
            if tag:
                data.tags.new(tag, skip_if_exists=True)
        if author:
            data.author = author
        if description:
            data.description = description
        if cat_uuid:
            data.catalog_id = cat_uuid  # Blender derives the simple name from the catalog file
        if not _generate_preview(target) and preview_from:
            set_preview_from_image(target, preview_from)
    return cat_uuid


def _generate_preview(obj) -> bool:
    """Asks Blender to render the preview (needs a GPU context, so not in background runs)."""
    if bpy.app.background:
        return False
    try:
        obj.asset_generate_preview()
        return True
    except (RuntimeError, AttributeError):
        return False


def set_preview_from_image(id_block, image_path: str, size: int = PREVIEW_SIZE) -> bool:
    """Sets an ID's preview to the image file, letterboxed into a size×size square."""
    path = bpy.path.abspath(image_path)
    if not os.path.isfile(path):
        return False
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError:
        return False
    try:
        width, height = image.size
        if width == 0 or height == 0:
            return False
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        square = letterbox(pixels.reshape(height, width, 4), size)
    finally:
        bpy.data.images.remove(image)
    preview = id_block.preview_ensure()
    preview.image_size = (size, size)
    preview.image_pixels_float.foreach_set(square.ravel())
    return True


def letterbox(rgba: np.ndarray, size: int) -> np.ndarray:
    """Fits an (h, w, 4) image into a transparent size×size square (nearest neighbour, which is
    enough for a thumbnail and needs nothing but numpy)."""
    height, width = rgba.shape[:2]
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    ys = np.minimum((np.arange(new_h) / scale).astype(int), height - 1)
    xs = np.minimum((np.arange(new_w) / scale).astype(int), width - 1)
    out = np.zeros((size, size, 4), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top:top + new_h, left:left + new_w] = rgba[ys][:, xs]
    return out


def write_library_blend(obj, library_dir: str, name: str = "", catalog_path: str = "") -> str:
    """Writes `obj` (marked as an asset, with everything it uses) into its own .blend in the
    library folder (with its armature, a marked asset too), and registers its catalog there.
    Returns the file path."""
    library_dir = bpy.path.abspath(library_dir)
    os.makedirs(library_dir, exist_ok=True)
    targets = [t for t in (obj, rig_of(obj)) if t is not None]
    for target in targets:
        if target.asset_data is None:
            target.asset_mark()
    own_uuid = obj.asset_data.catalog_id
    if catalog_path:
        # The library's catalog file decides the UUID; the file written must use it.
        library_uuid = ensure_catalog(library_dir, catalog_path, preferred_uuid=str(own_uuid))
        for target in targets:
            target.asset_data.catalog_id = library_uuid
    for image in _images_used_by(obj):
        if image.packed_file is None and image.has_data:
            image.pack()  # the library file must not depend on where the job folder is
    path = os.path.join(library_dir, f"{safe_name(name or obj.name, fallback='human')}.blend")
    try:
        bpy.data.libraries.write(path, set(targets), path_remap='RELATIVE_ALL', fake_user=True, compress=True)
    finally:
        if catalog_path:
            for target in targets:
                target.asset_data.catalog_id = own_uuid
    return path


def _images_used_by(obj) -> list:
    images = []
    for slot in obj.material_slots:
        mat = slot.material
        if mat is not None and mat.node_tree is not None:
            images += [n.image for n in mat.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image is not None]
    return images
