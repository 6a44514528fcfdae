"""UV atlas: xatlas, or fast projection charts packed by xatlas.

xatlas's own chart segmentation is slow on dense meshes (measured on this project's 2-core machine: ~30 s of CPU for
60k faces, ~95 s for 100k). So `method="auto"` runs full xatlas only up to `xatlas_max_faces` faces and under a time
limit (in a child process that is killed when the limit passes); otherwise, or on timeout, it uses projection charts:

* every face gets the one of 26 directions (cube faces, edges, corners) closest to its locally smoothed normal,
  among those within acos(min_cos) of its own normal, so the projection stretches a face by at most 1/min_cos;
* charts are the edge-connected groups of faces with the same direction; tiny charts merge into a neighbour whose
  direction also suits all their faces;
* each chart is projected orthographically along its direction, and xatlas only packs the charts
  (`use_input_mesh_uvs`), which takes well under a second.

Charts on the face region (the face view's box, front half) can be scaled up before packing so the face, which the
generated face view shows at 3x magnification, gets more texels.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .mesh_utils import edge_topology, face_components, face_normals_and_areas, face_pairs_across_edges

FACE_BOX = (-1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 0.5)     # x0, x1, z0, z1 of the generated face view (render.cameras)


@dataclass
class UVOptions:
    resolution: int = 1024               # texture size the atlas is packed for
    padding: int = 4                     # texels between charts (at `resolution`)
    method: str = "auto"                 # "auto", "xatlas" or "charts"
    xatlas_max_faces: int = 20_000       # auto: full xatlas only up to this many faces
    time_limit_s: float = 20.0           # auto/xatlas: give up on full xatlas after this long
    min_cos: float = 0.3                 # charts: largest allowed angle between a face and its projection axis
    face_scale: float = 2.0              # charts: linear texel-density boost of the face region


@dataclass
class UVAtlas:
    """vmapping (V',) original vertex of each output vertex; faces (F,3) into the output vertices (same face order as
    the input); uv (V',2) in [0,1]."""

    vmapping: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    method: str
    charts: int
    utilization: float
    seconds: float


def parametrize(vertices: np.ndarray, faces: np.ndarray, options: UVOptions | None = None) -> UVAtlas:
    options = options or UVOptions()
    start = time.perf_counter()
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    use_xatlas = options.method == "xatlas" or (options.method == "auto" and len(faces) <= options.xatlas_max_faces)
    if options.method not in ("auto", "xatlas", "charts"):
        raise ValueError(f"unknown UV method {options.method!r}")
    atlas = None
    if use_xatlas:
        atlas = _xatlas_with_time_limit(vertices, faces, options)
    if atlas is None:
        atlas = _projection_atlas(vertices, faces, options)
    atlas.seconds = round(time.perf_counter() - start, 3)
    return atlas


def _pack_options(options: UVOptions):
    import xatlas

    pack = xatlas.PackOptions()
    pack.resolution = int(options.resolution)
    # xatlas may return an atlas somewhat larger than `resolution`; the UVs are then scaled down, so pad a bit more.
    pack.padding = int(math.ceil(options.padding * 1.25))
    pack.bilinear = True
    return pack


def _run_xatlas(vertices, faces, options: UVOptions, uvs=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float]:
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices.astype(np.float32), faces.astype(np.uint32), None,
                   None if uvs is None else uvs.astype(np.float32))
    chart_options = xatlas.ChartOptions()
    chart_options.use_input_mesh_uvs = uvs is not None
    atlas.generate(chart_options, _pack_options(options))
    if atlas.atlas_count != 1:
        raise RuntimeError(f"xatlas made {atlas.atlas_count} atlases")
    vmapping, indices, uv = atlas[0]
    return (vmapping.astype(np.int64), indices.astype(np.int64), uv.astype(np.float64), int(atlas.chart_count),
            float(atlas.utilization))


def _xatlas_child(vertices, faces, options, connection) -> None:
    try:
        connection.send(_run_xatlas(vertices, faces, options))
    except Exception as exc:   # reported to the parent, which falls back
        connection.send(exc)
    finally:
        connection.close()


def _xatlas_with_time_limit(vertices, faces, options: UVOptions) -> UVAtlas | None:
    """Full xatlas in a spawned child process; None when it fails or exceeds the time limit."""
    # fork shares the arrays without pickling and never re-imports __main__; spawn where fork is unsafe (macOS).
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_xatlas_child, args=(vertices, faces, options, send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(options.time_limit_s):
            return None
        result = receive.recv()
    except EOFError:
        return None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if isinstance(result, Exception):
        return None
    vmapping, new_faces, uv, charts, utilization = result
    return UVAtlas(vmapping, new_faces, uv, "xatlas", charts, utilization, 0.0)


def _chart_directions() -> np.ndarray:
    grid = np.array([(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1) if (x, y, z) != (0, 0, 0)],
                    dtype=np.float64)
    return grid / np.linalg.norm(grid, axis=1, keepdims=True)


def projection_charts(vertices: np.ndarray, faces: np.ndarray, min_cos: float = 0.3, min_chart_faces: int = 16
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(chart label per face, projection direction per chart (C,3))."""
    normals, areas = face_normals_and_areas(vertices, faces)
    topo = edge_topology(faces)
    a, b, _ = face_pairs_across_edges(topo)
    n = len(faces)
    adjacency = sp.coo_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]), np.concatenate([b, a]))),
                              shape=(n, n)).tocsr()
    smooth = normals * areas[:, None]
    for _ in range(3):
        smooth = smooth + adjacency @ smooth
    smooth /= np.maximum(np.linalg.norm(smooth, axis=1, keepdims=True), 1e-30)
    directions = _chart_directions()
    allowed = normals @ directions.T > min_cos
    label = np.where(allowed, smooth @ directions.T, -np.inf).argmax(1)

    for _ in range(3):
        same = label[a] == label[b]
        count, chart = face_components(n, a[same], b[same])
        sizes = np.bincount(chart, minlength=count)
        small = sizes[chart] < min_chart_faces
        # A small chart's face takes the direction of a neighbour in another chart when that direction suits it.
        border = small[a] & (chart[a] != chart[b]) & allowed[a, label[b]]
        border_b = small[b] & (chart[a] != chart[b]) & allowed[b, label[a]]
        if not (border.any() or border_b.any()):
            break
        new_label = label.copy()
        new_label[a[border]] = label[b[border]]
        new_label[b[border_b]] = label[a[border_b]]
        label = new_label
    same = label[a] == label[b]
    count, chart = face_components(n, a[same], b[same])
    chart_direction = np.zeros((count, 3))
    chart_direction[chart] = directions[label]
    return chart, chart_direction


def _projection_atlas(vertices: np.ndarray, faces: np.ndarray, options: UVOptions) -> UVAtlas:
    chart, direction = projection_charts(vertices, faces, options.min_cos)
    # One output vertex per (vertex, chart) pair: charts are cut apart along their borders.
    pair = faces * len(direction) + chart[:, None]
    unique_pairs, inverse = np.unique(pair.reshape(-1), return_inverse=True)
    split_vertex = unique_pairs // len(direction)
    split_chart = unique_pairs % len(direction)
    split_faces = inverse.reshape(-1, 3)
    d = direction[split_chart]
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]])
    t1 = np.cross(helper, d)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(d, t1)
    p = vertices[split_vertex]
    uv = np.stack([(p * t1).sum(1), (p * t2).sum(1)], 1)
    # xatlas sizes each chart by its 3D area, so the face region is enlarged in the positions it is given.
    scale = _face_region_scale(vertices, faces, chart, len(direction), options.face_scale)[split_chart, None]
    vmapping, packed_faces, packed_uv, charts, utilization = _run_xatlas(p * scale, split_faces, options,
                                                                         uvs=uv * scale)
    return UVAtlas(split_vertex[vmapping], packed_faces, packed_uv, "charts", charts, utilization, 0.0)


def _face_region_scale(vertices, faces, chart, num_charts, scale) -> np.ndarray:
    """Per chart: `scale` when the chart's centroid lies in the face view's box on the front half, else 1."""
    _, areas = face_normals_and_areas(vertices, faces)
    centroid = vertices[faces].mean(1)
    weight = np.bincount(chart, weights=areas, minlength=num_charts)
    centre = np.stack([np.bincount(chart, weights=areas * centroid[:, k], minlength=num_charts) for k in range(3)], 1)
    centre /= np.maximum(weight, 1e-30)[:, None]
    x0, x1, z0, z1 = FACE_BOX
    in_face = (centre[:, 0] > x0) & (centre[:, 0] < x1) & (centre[:, 2] > z0) & (centre[:, 2] < z1) & (centre[:, 1] < 0)
    return np.where(in_face, scale, 1.0)
