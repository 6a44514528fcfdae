"""What Reconstruct Human sends: the photo (a file, an image in the .blend, or the one an Image
Editor shows) and the settings of the panel and the preferences, as a jobs.JobRequest."""

from __future__ import annotations

import hashlib
import os
import uuid

import bpy

from .jobs import JobRequest
from .preferences import get_prefs, job_output_dir, user_dir
from .protocol import PHOTO_SUFFIXES, safe_name


def editor_image(context):
    """The image of the Image Editor in this window (or any window), or None."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == 'IMAGE_EDITOR' and space.image is not None:
        return space.image
    wm = context.window_manager
    windows = ([context.window] if getattr(context, "window", None) else []) + list(wm.windows)
    for window in windows:
        screen = window.screen
        for area in (screen.areas if screen else ()):
            if area.type == 'IMAGE_EDITOR' and area.spaces.active.image is not None:
                return area.spaces.active.image
    return None


def chosen_image(context, settings):
    return settings.image if settings.source == 'IMAGE' else editor_image(context)


def photo_problem(context, settings) -> str | None:
    """Why there is no usable photo, or None. Cheap: poll() calls it on every redraw."""
    if settings.source == 'FILE':
        if not settings.photo_path:
            return "Choose a photo of a person first"
        path = bpy.path.abspath(settings.photo_path)
        if os.path.isdir(path):
            return "The photo path is a folder; choose an image file"
        if not os.path.isfile(path):
            return f"The photo does not exist: {path}"
        return None
    image = chosen_image(context, settings)
    if image is None:
        return "Pick an image" if settings.source == 'IMAGE' else "No Image Editor shows an image"
    if not image.has_data and image.packed_file is None and not os.path.isfile(bpy.path.abspath(image.filepath)):
        return f"The image '{image.name}' has no pixels (its file is missing)"
    return None


def resolve_photo(context, settings) -> tuple[str, str, str]:
    """(file for the backend, label for provenance, name for the collection).

    Images that exist only inside Blender (packed, generated, edited) are written to the
    extension's user folder first, because the backend reads files."""
    if settings.source == 'FILE':
        path = os.path.abspath(bpy.path.abspath(settings.photo_path))
        return path, path, os.path.splitext(os.path.basename(path))[0]
    image = chosen_image(context, settings)
    name = os.path.splitext(image.name)[0]
    source_path = os.path.abspath(bpy.path.abspath(image.filepath)) if image.filepath else ""
    if image.packed_file is None and image.source == 'FILE' and not image.is_dirty and os.path.isfile(source_path):
        return source_path, source_path, name
    folder = user_dir("inputs")
    if image.packed_file is not None and not image.is_dirty:
        data = image.packed_file.data
        ext = os.path.splitext(source_path)[1].lower() if source_path else ""
        ext = ext if ext in PHOTO_SUFFIXES else ".png"
        path = os.path.join(folder, f"{safe_name(name)}-{hashlib.sha256(data).hexdigest()[:10]}{ext}")
        if not os.path.isfile(path):
            with open(path, "wb") as f:
                f.write(data)
        return path, f"{image.name} (packed in the .blend)", name
    copy = image.copy()  # saving a copy leaves the artist's image (and its path) untouched
    try:
        path = os.path.join(folder, f"{safe_name(name)}-{uuid.uuid4().hex[:10]}.png")
        copy.filepath_raw = path
        copy.file_format = 'PNG'
        copy.save()
    finally:
        bpy.data.images.remove(copy)
    return path, f"{image.name} (from the .blend)", name


def build_request(context) -> JobRequest:
    settings = context.scene.synchuman
    prefs = get_prefs(context)
    photo, label, name = resolve_photo(context, settings)
    job_settings = {
        "engine": settings.engine,
        "seed": int(settings.seed),
        "height_m": round(float(settings.height_m), 4),
        "texture_size": int(settings.texture_size),
        "max_faces": int(settings.max_faces),
        "device": prefs.device,
        "precision": prefs.precision,
        "memory_mode": prefs.memory_mode,
        "rig": bool(settings.rig),
        "rig_names": settings.rig_names,
        "rest_pose": settings.rest_pose,
    }
    for key in ("stage1_steps", "stage2_steps"):  # 0 keeps the method's default
        if getattr(settings, key):
            job_settings[key] = int(getattr(settings, key))
    if settings.use_person_box:
        job_settings["person_box"] = [int(v) for v in settings.person_box]
    return JobRequest(photo=photo, photo_label=label, name=name, output_dir=job_output_dir(context),
                      settings=job_settings, height_m=float(settings.height_m),
                      mark_asset=settings.mark_asset, catalog=settings.asset_catalog,
                      tags=settings.asset_tags, library_dir=settings.library_dir)


