"""The `preview` engine: a classical reconstruction on the CPU, no model weights, in about a second.

    foreground + pose (foreground/) -> silhouette fields (silhouette.py) -> inflated closed mesh (mesh.py)
    -> texture: photo on the front, plausible back (texture.py and its modules, head.py)
    -> GLB + front, side and back views (views.py, raster.py)

It is not the neural SyncHuman method: the body is the photo's silhouette inflated with rounded
cross-sections, so its depth is a plausible guess and the back is a colour fill. See
docs/preview-engine.md. It never imports torch.
"""

from __future__ import annotations

import logging
import time

from ...foreground import write_pose_views
from ...jobs import Stage
from ..base import Engine, EngineResult, ReconstructSettings
from .build import PreviewBuild, build_preview
from .views import VIEWS

log = logging.getLogger("synchuman.preview")

__all__ = ["PreviewEngine", "PreviewBuild", "build_preview"]


class PreviewEngine(Engine):
    name = "preview"
    stages = (
        Stage("foreground", "Finding the person and their pose", 0.25),
        Stage("silhouette", "Silhouette fields", 0.1),
        Stage("geometry", "Inflating the body", 0.3),
        Stage("texture", "Texturing front and back", 0.2),
        Stage("export", "Writing GLB", 0.25),
        Stage("render", "Rendering the front, side and back views", 0.15),
    )

    @classmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        return True, "always available (CPU, no weights)"

    def reconstruct(self, photo, settings, job, progress, cancel) -> EngineResult:
        started = time.monotonic()
        built = build_preview(photo, settings, progress)
        progress("export", 0, 1, "writing human.glb")
        glb = built.write_glb(job.file("human.glb"))
        progress("export", 1, 1, f"{len(built.faces)} faces")
        views = {}
        for i, view in enumerate(VIEWS):   # front, side, back
            progress("render", i, len(VIEWS), f"{view} view")
            views[view] = built.write_view(job.file(f"views/{view}.png"), view,
                                           progress=lambda d, t, i=i: progress("render", i, len(VIEWS), "rasterising"))
        views.update(write_pose_views(job.file("views"), photo.rgba[..., :3], built.person.alpha, built.person.pose))
        progress("render", len(VIEWS), len(VIEWS), "views written")
        meta = built.metadata()
        meta["person"] = built.person.facts()
        meta["preview"]["engine_seconds"] = round(time.monotonic() - started, 3)
        log.info("preview: %d faces, watertight %s, silhouette IoU %.4f", len(built.faces),
                 meta["preview"]["mesh"]["watertight"], meta["preview"].get("front_silhouette_iou", float("nan")))
        cancel.raise_if_set()
        return EngineResult(glb=glb, views=views, metadata=meta)
