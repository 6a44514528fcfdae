"""The `preview` engine: a classical reconstruction on the CPU, no model weights, in about a second.

    foreground + pose (foreground/) -> silhouette fields (silhouette.py) -> inflated closed mesh (mesh.py)
    -> texture: photo on the front, plausible back (texture.py, head.py) -> rig (synchuman.rig)
    -> GLB + front view (raster.py)

It is not the neural SyncHuman method: the body is the photo's silhouette inflated with rounded
cross-sections, so its depth is a plausible guess and the back is a colour fill. See
docs/preview-engine.md. Only the rig step (on by default) imports torch, for the body model.
"""

from __future__ import annotations

import logging
import time

from ...export.glb import write_glb
from ...foreground import write_pose_views
from ...jobs import Stage
from ..base import Engine, EngineResult, ReconstructSettings
from .build import ROUGHNESS, PreviewBuild, build_preview

log = logging.getLogger("synchuman.preview")

__all__ = ["PreviewEngine", "PreviewBuild", "build_preview"]


class PreviewEngine(Engine):
    name = "preview"
    stages = (
        Stage("foreground", "Finding the person and their pose", 0.25),
        Stage("silhouette", "Silhouette fields", 0.1),
        Stage("geometry", "Inflating the body", 0.3),
        Stage("texture", "Texturing front and back", 0.2),
        Stage("rig", "Skeleton and skin weights", 0.15),
        Stage("export", "Writing GLB", 0.25),
        Stage("render", "Rendering the front view", 0.15),
    )

    @classmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        return True, "always available (CPU, no weights)"

    def reconstruct(self, photo, settings, job, progress, cancel) -> EngineResult:
        started = time.monotonic()
        built = build_preview(photo, settings, progress)
        rig = None
        if settings.rig:
            from ...rig import rig_result, save_fitted_body

            progress("rig", 0, 1, "fitting the skeleton and carrying the skin weights")
            # body: the dressed preview's fitted PosedBody (PreviewBuild.body) when it has one; None fits it here.
            rig = rig_result(built.vertices, built.faces, body=None, pose=built.person.pose, mask=built.person.alpha,
                             photo_to_output=built.to_photo, names=settings.rig_names, rest_pose=settings.rest_pose,
                             normals=built.normals)
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
        progress("render", 0, 1, "front view")
        front = job.file("views/front.png")
        built.write_front_view(front, progress=lambda d, t: progress("render", d, t + 1, "rasterising"))
        views = {"front": front, **write_pose_views(job.file("views"), photo.rgba[..., :3], built.person.alpha,
                                                     built.person.pose)}
        progress("render", 1, 1, "front view written")
        meta = built.metadata()
        meta["person"] = built.person.facts()
        meta["rig"] = rig.facts if rig is not None else None
        meta["preview"]["engine_seconds"] = round(time.monotonic() - started, 3)
        log.info("preview: %d faces, watertight %s, silhouette IoU %.4f", len(built.faces),
                 meta["preview"]["mesh"]["watertight"], meta["preview"].get("front_silhouette_iou", float("nan")))
        cancel.raise_if_set()
        return EngineResult(glb=glb, views=views, metadata=meta)
