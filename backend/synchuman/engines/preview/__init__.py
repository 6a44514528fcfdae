"""The `preview` engine: a classical reconstruction on the CPU, no model weights, in a few seconds.

    foreground + pose (foreground/) -> silhouette fields (silhouette.py) -> the landmarks corrected
    by how people stand and sit (landmark_rules.py) -> the body model fitted to the landmarks and
    mask (body_fit.py) -> the body dressed by the mask: one closed surface (dress.py, garment_tube.py,
    surface.py) -> texture: photo on the front, the back part by part (texture.py and its modules,
    head.py) -> rig: skeleton and skin weights from the fitted body (synchuman.rig) -> GLB + front,
    side and back views (views.py, raster.py) + the fitted body (views/body.json, body.npz)

When no body can be fitted (no pose found, the shoulders not both seen, a fit that does not match
the photo, a face budget too small for it) the silhouette is inflated instead (mesh.py), with a
warning; `meta["preview"]["method"]`
says which ran. It is not the neural SyncHuman method: the depth comes from a body-model prior and
the back is a colour fill. See docs/preview-engine.md. The body fit uses torch on the CPU, imported
only when the first job fits a body or rigs a result (the service answers before that).
"""

from __future__ import annotations

import logging
import time

from ...export.glb import write_glb
from ...foreground import write_pose_views
from ...jobs import Stage
from ..base import Engine, EngineResult, ReconstructSettings
from .beside import beside
from .build import ROUGHNESS, PreviewBuild, build_preview
from .views import VIEWS

log = logging.getLogger("synchuman.preview")

__all__ = ["PreviewEngine", "PreviewBuild", "build_preview"]


class PreviewEngine(Engine):
    name = "preview"
    stages = (
        Stage("foreground", "Finding the person and their pose", 0.25),
        Stage("silhouette", "Silhouette fields", 0.1),
        Stage("body", "Fitting the body model", 0.3),
        Stage("geometry", "Dressing the body", 0.25),
        Stage("texture", "Texturing front and back (the rig is made beside it)", 0.25),
        Stage("rig", "Skeleton and skin weights", 0.02),
        Stage("export", "Writing GLB", 0.25),
        Stage("render", "Rendering the front, side and back views", 0.15),
    )

    @classmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        return True, "always available (CPU, no weights)"

    def reconstruct(self, photo, settings, job, progress, cancel) -> EngineResult:
        started = time.monotonic()
        built = build_preview(photo, settings, progress)
        # The views depend only on the built mesh: they render on the second core while this thread
        # exports and draws the pose (the texture and the rig were made side by side likewise).
        with beside(self._render_views, built, job) as rendering:
            glb = self._export(built, job, progress, cancel)
            progress("render", 0, 1, "front, side and back views")
            views = self._write_pose(built, photo, job)
            views = {**rendering.result(), **views}
        progress("render", 1, 1, "views written")
        meta = built.metadata()
        meta["person"] = built.person.facts()
        meta["rig"] = built.rig.facts if built.rig is not None else None
        meta["preview"]["engine_seconds"] = round(time.monotonic() - started, 3)
        log.info("preview: %d faces, watertight %s, silhouette IoU %.4f", len(built.faces),
                 meta["preview"]["mesh"]["watertight"], meta["preview"].get("front_silhouette_iou", float("nan")))
        cancel.raise_if_set()
        return EngineResult(glb=glb, views=views, metadata=meta)

    @staticmethod
    def _export(built: PreviewBuild, job, progress, cancel):
        """human.glb, with its rig unless settings.rig was off."""
        rig = built.rig   # made beside the texture (build_preview)
        if rig is not None:
            from ...rig import save_fitted_body

            save_fitted_body(rig, job.file("views"), log)
            progress("rig", 1, 1, f"{rig.skeleton.count} bones")
        cancel.raise_if_set()
        progress("export", 0, 1, "writing human.glb")
        if rig is None:
            glb = built.write_glb(job.file("human.glb"))
        else:
            glb = write_glb(job.file("human.glb"), rig.vertices, built.faces, built.uv, built.texture,
                            roughness=ROUGHNESS, metallic=0.0, vertex_normals=rig.normals, name="human",
                            skin=rig.skin())
        progress("export", 1, 1, f"{len(built.faces)} faces")
        return glb

    @staticmethod
    def _render_views(built: PreviewBuild, job) -> dict:
        """views/{front,side,back}.png."""
        return {view: built.write_view(job.file(f"views/{view}.png"), view) for view in VIEWS}

    @staticmethod
    def _write_pose(built: PreviewBuild, photo, job) -> dict:
        """The pose views and the fitted body (views/body.json + body.npz)."""
        views = write_pose_views(job.file("views"), photo.rgba[..., :3], built.person.alpha, built.person.pose)
        if built.body is not None:   # the fitted body for the rig step
            built.body.save(job.file("views"))
        return views
