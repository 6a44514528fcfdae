"""Post-processing chain: raw mesh + generated views (+ Gaussians) -> clean textured GLB, on CPU.

    stats = to_glb(vertices_zup, faces, colors, normals, face_color, face_normal, gaussians,
                   out_path=..., height_m=1.75, texture_size=1024, max_faces=60_000, progress=..., cancel=...)

Inputs follow the reference (architecture brief §1.5, §1.7): vertices (V,3) z-up in the unit cube, subject facing -Y;
colors / normals (4,H,W,3) float in [0,1] as stored (views 2 and 3 mirrored); face_color / face_normal (H,W,3) the
face view (the top-centre third of view 0 at 3x); gaussians: optional object with `xyz` (N,3) world positions,
`rgb` (N,3) colours in [0,1] and `opacity` (N,), used to colour what no view sees.

Stages reported through `progress(stage, done, total, message)`, in order (`POSTPROCESS_STAGES`):
    mesh_cleanup    weld, floating pieces, decimation, hidden inner faces (visibility + min-cut), holes, manifold
    uv_atlas        xatlas or projection charts packed by xatlas
    texture_bake    closed-form bake from the views (or the reference's optimisation, `bake.mode="opt"`),
                    and the optional normal map from the dense input mesh (`normal_map=True`)
    export          GLB (y-up, metres, feet on y = 0, facing +Z, metallic 0, roughness 1); with `rig`, the
                    engine's rig step runs on the placed mesh first and the GLB carries its skin
`cancel.raise_if_set()` is called at every progress call.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..common import reporter
from ..errors import SyncHumanError
from ..export.glb import write_glb, zup_to_yup
from ..geometry.cleanup import CleanupOptions, clean_mesh
from ..geometry.mesh_utils import vertex_normals
from ..geometry.uv import UVOptions, parametrize
from ..jobs import Stage
from ..render.bake import BakeOptions, bake_texture, gaussian_fill, generated_views
from ..render.normal_map import bake_normal_map

POSTPROCESS_STAGES = (
    Stage("mesh_cleanup", "Cleaning the mesh", 0.4),
    Stage("uv_atlas", "Unwrapping UVs", 0.1),
    Stage("texture_bake", "Baking the texture", 0.4),
    Stage("export", "Writing the GLB", 0.1),
)


@dataclass
class PostprocessOptions:
    cleanup: CleanupOptions = field(default_factory=CleanupOptions)
    uv: UVOptions = field(default_factory=UVOptions)
    bake: BakeOptions = field(default_factory=BakeOptions)
    roughness: float = 1.0
    metallic: float = 0.0
    normal_map: bool = False              # bake a tangent-space normal map from the dense input mesh
    normal_map_distance: float = 0.01     # how far (unit cube) from the decimated surface to look for the dense one


def place_in_metres(vertices_zup: np.ndarray, height_m: float) -> np.ndarray:
    """Scales to `height_m` tall, feet on z = 0, centred in x and y (still z-up)."""
    lo, hi = vertices_zup.min(0), vertices_zup.max(0)
    scale = height_m / max(float(hi[2] - lo[2]), 1e-9)
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    return (vertices_zup - centre) * scale


@dataclass
class PostprocessResult:
    """The textured mesh, still z-up in the unit cube (uv v up, texture row 0 = v 1), and JSON-ready statistics."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    texture: np.ndarray
    vertex_normals: np.ndarray
    stats: dict[str, Any]
    normal_map: np.ndarray | None = None


def process(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, normals: np.ndarray,
            face_color: np.ndarray | None = None, face_normal: np.ndarray | None = None, gaussians: Any = None, *,
            options: PostprocessOptions | None = None, progress=None, cancel=None) -> PostprocessResult:
    """Clean-up, UV atlas and bake (everything but writing the file)."""
    options = options or PostprocessOptions()
    report = reporter(progress, cancel)
    timings: dict[str, float] = {}

    if len(faces) == 0:
        raise SyncHumanError("postprocess.empty_mesh", "The reconstruction produced no surface.",
                             "Try another seed or a photo where the whole person is visible.")
    start = time.perf_counter()
    v, f, cleanup_stats = clean_mesh(vertices, faces, options.cleanup, progress=report, stage="mesh_cleanup")
    timings["mesh_cleanup"] = round(time.perf_counter() - start, 3)
    if len(f) < 4:
        raise SyncHumanError("postprocess.empty_mesh", "Nothing was left of the surface after clean-up.",
                             "Try another seed; if it persists, report it with job.log.",
                             {"faces_in": int(len(faces))})

    start = time.perf_counter()
    report("uv_atlas", 0, 1, f"parametrising {len(f)} faces")
    atlas = parametrize(v, f, options.uv)
    report("uv_atlas", 1, 1, f"{atlas.charts} charts ({atlas.method})")
    timings["uv_atlas"] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    views = generated_views(colors, normals, face_color, face_normal)
    fill = None
    if gaussians is not None and len(np.asarray(gaussians.xyz)):
        fill = gaussian_fill(gaussians.xyz, gaussians.rgb, getattr(gaussians, "opacity", None))
    atlas_vertices = v[atlas.vmapping]
    atlas_normals = vertex_normals(v, f)[atlas.vmapping]
    texture, bake_stats = bake_texture(atlas_vertices, atlas.faces, atlas.uv, views, atlas_normals, options.bake,
                                       fill=fill, progress=lambda d, t, m: report("texture_bake", d, t, m))
    timings["texture_bake"] = round(time.perf_counter() - start, 3)

    normal_map = None
    if options.normal_map:
        start = time.perf_counter()
        report("texture_bake", 1, 1, "baking the normal map")
        normal_map = bake_normal_map(atlas_vertices, atlas.faces, atlas.uv, atlas_normals, np.asarray(vertices),
                                     np.asarray(faces), options.bake.texture_size, options.bake.padding,
                                     options.normal_map_distance)
        timings["normal_map"] = round(time.perf_counter() - start, 3)

    stats = {
        "faces_in": int(len(faces)),
        "faces_out": int(len(atlas.faces)),
        "vertices_out": int(len(atlas_vertices)),
        "cleanup": asdict(cleanup_stats),
        "uv": {"method": atlas.method, "charts": atlas.charts, "utilization": round(atlas.utilization, 4),
               "seconds": atlas.seconds},
        "bake": {**asdict(bake_stats), "mode": options.bake.mode, "views": [view.view for view in views],
                 "gaussian_prior": fill is not None},
        "texture_size": options.bake.texture_size,
        "timings_s": timings,
    }
    stats["normal_map"] = normal_map is not None
    return PostprocessResult(atlas_vertices, atlas.faces, atlas.uv, texture, atlas_normals, stats, normal_map)


def write_result(result: PostprocessResult, out_path: str | Path, height_m: float,
                 options: PostprocessOptions, rig=None) -> Path:
    """`rig(vertices, faces, normals)` (output frame) -> a `rig.RigResult` whose mesh and skin are written."""
    vertices = zup_to_yup(place_in_metres(result.vertices, height_m))
    normals = zup_to_yup(result.vertex_normals)
    skin = None
    if rig is not None:
        rigged = rig(vertices, result.faces, normals)
        vertices, normals, skin = rigged.vertices, rigged.normals, rigged.skin()
        result.stats["rig"] = rigged.facts
    return write_glb(out_path, vertices, result.faces, result.uv, result.texture,
                     normal_map=result.normal_map, vertex_normals=normals,
                     roughness=options.roughness, metallic=options.metallic, skin=skin)


def to_glb(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, normals: np.ndarray,
           face_color: np.ndarray | None = None, face_normal: np.ndarray | None = None, gaussians: Any = None, *,
           out_path: str | Path, height_m: float = 1.75, texture_size: int = 1024, max_faces: int = 60_000,
           options: PostprocessOptions | None = None, progress=None, cancel=None, rig=None) -> dict[str, Any]:
    """Runs the whole chain and writes `out_path`; returns JSON-ready statistics (for job.json).
    `rig`: the engine's rig step (see `write_result`), or None for a GLB without a skeleton."""
    options = copy.deepcopy(options) if options is not None else PostprocessOptions()
    options.cleanup.max_faces = max_faces
    options.uv.resolution = texture_size
    options.bake.texture_size = texture_size
    report = reporter(progress, cancel)
    result = process(vertices, faces, colors, normals, face_color, face_normal, gaussians, options=options,
                     progress=progress, cancel=cancel)
    start = time.perf_counter()
    report("export", 0, 1, "rigging and writing the GLB" if rig is not None else "writing the GLB")
    out = write_result(result, out_path, height_m, options, rig)
    report("export", 1, 1, f"{out.name} written")
    result.stats["timings_s"]["export"] = round(time.perf_counter() - start, 3)
    return {"glb": str(out), "height_m": float(height_m), **result.stats}
