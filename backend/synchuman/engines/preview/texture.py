"""Texturing a closed mesh from the photo: the front is the photo, the back and the hidden surfaces a
plausible fill, blended where they meet. One entry point for every preview geometry:

    texture_mesh(rgb, mask, verts_px, faces, vertex_parts, part_names, head, size) -> TexturedMesh

1. Visibility (visibility.py): the mesh is rasterised from the front and from behind; faces that the
   photo sees (facing it, not hidden behind another part) take the photo, faces a camera behind the
   person would see take the back chart, the rest (e.g. a torso's front behind a crossed arm) a
   solid colour cell of their body part. Faces near the outline seen nearly edge-on take the back
   chart too: the photo would be stretched into streaks over them. Faces beyond the photo's frame
   (legs completed below a half-body photo) take their part's cell.
2. Atlas (atlas.py): the front chart is the photo's person box at the highest scale the texture
   size allows (the photo's own resolution for a standing person in a 1024 photo at 1024); the back
   chart is the same box seen from behind; the cells sit in the space left over.
3. Back colours: with body part labels, part by part (partfill.py); without them (the inflated
   silhouette), the colour-cluster fill of the whole figure (backfill.py). Both paint the back of
   the head with the hair colour, keep none of the front's detail, and blend into the front's edge
   colours towards the silhouette so no seam shows there.
4. UVs: a vertex used by faces on different charts is stored once per chart (`vertex_index`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import silhouette as S
from .atlas import layout, bake
from .backfill import back_fill, blend_width, clean_front, side_blend
from .head import Head, find_head
from .partfill import face_parts_from_vertices, part_fill
from .visibility import visible_faces

FRONT, BACK, CELL = 0, 1, 2   # face charts; a CELL face's key is CELL + its part
# a front-facing surface near the outline turned further than this from the camera (|cos| of its
# normal to the view) does not take the photo: there one photo pixel would be stretched over ~3
# texels of surface (the streaks along the rims of arms and legs seen from the side); it takes the
# back chart instead, whose colours there are the front's edge colours smoothed along the outline.
# Inside the figure (a fold seen edge-on) the photo stays: the back chart is a guess there.
GRAZING_COS = 0.3


@dataclass
class TexturedMesh:
    vertex_index: np.ndarray   # (V2,) index into the input vertices (seam vertices repeated, one per chart)
    faces: np.ndarray          # (F, 3) into the V2 vertices, same order as the input faces
    uv: np.ndarray             # (V2, 2) in [0, 1], v up (row 0 of the texture is v = 1)
    texture: np.ndarray        # (size, size, 3) uint8
    face_chart: np.ndarray     # (F,) FRONT, BACK or CELL
    notes: dict = field(default_factory=dict)


def photo_box(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The photo inside `box` (u0, v0, u1, v1), zero-padded where the box leaves the photo."""
    u0, v0, u1, v1 = box
    H, W = rgb.shape[:2]
    src = rgb[max(v0, 0):min(v1, H), max(u0, 0):min(u1, W)]
    return cv2.copyMakeBorder(np.ascontiguousarray(src), max(0, -v0), max(0, v1 - H), max(0, -u0), max(0, u1 - W),
                              cv2.BORDER_CONSTANT, value=0)


def _alpha(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype == bool:
        return m.astype(np.uint8) * 255
    if m.dtype == np.uint8:
        return m
    return np.clip(m.astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


def view_cosine(verts_px: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per face, |cos| of the angle between the surface's smoothed normal (the mean of its corners'
    area-weighted vertex normals) and the view axis: 1 facing the camera, 0 edge-on."""
    a, b, c = (verts_px[faces[:, k]] for k in range(3))
    fn = np.cross(b - a, c - a)
    vn = np.column_stack([sum(np.bincount(faces[:, k], fn[:, d], len(verts_px)) for k in range(3)) for d in range(3)])
    vz = np.abs(vn[:, 2]) / np.maximum(np.linalg.norm(vn, axis=1), 1e-12)
    return vz[faces].mean(1)


def rim_grazing(verts_px: np.ndarray, faces: np.ndarray, sil: S.Silhouette, radius: np.ndarray) -> np.ndarray:
    """Faces seen edge-on (GRAZING_COS) whose centre lies where the back chart shows the front's edge
    colours (within half the side blend's width of the outline)."""
    grazing = view_cosine(verts_px, faces) < GRAZING_COS
    centre = verts_px[faces[grazing]].mean(1)
    phi = sil.sample(sil.phi, centre[:, 0], centre[:, 1], outside=-1.0)
    near = phi < 0.5 * sil.sample(blend_width(sil, radius), centre[:, 0], centre[:, 1], outside=1.5)
    out = np.zeros(len(faces), bool)
    out[np.nonzero(grazing)[0][near]] = True
    return out


def beyond_photo(verts_px: np.ndarray, faces: np.ndarray, width: int, height: int) -> np.ndarray:
    """Faces wholly outside the photo (pixel centres at integers): all three corners beyond one of its edges."""
    corners = verts_px[faces, :2]
    return ((corners < -0.5).all(1) | (corners > [width - 0.5, height - 0.5]).all(1)).any(1)


def texture_mesh(rgb: np.ndarray, mask: np.ndarray, verts_px: np.ndarray, faces: np.ndarray,
                 vertex_parts: np.ndarray | None, part_names: list[str] | None, head: Head | None, size: int,
                 tick=None, part_colours: dict[int, np.ndarray] | None = None,
                 back_colours: dict[int, np.ndarray] | None = None) -> TexturedMesh:
    """Texture a closed mesh in photo coordinates.

    rgb (H, W, 3) uint8 photo; mask (H, W) the person (bool, or alpha as uint8 0..255 / float 0..1);
    verts_px (V, 3) u right, v down, z towards the camera, in photo pixels; faces (F, 3)
    counter-clockwise seen from outside; vertex_parts (V,) indices into part_names, or None for a mesh
    without body parts (colour-cluster back fill); head: the head in the photo's frame
    (`find_head(rgb, mask)`), or None to find it here; size: the texture's side in texels.
    tick(done, total, message) reports progress. part_colours: part index -> RGB for parts whose colour
    is known though the photo may not show them (a backpack, from its straps), one solid colour;
    back_colours: the same for parts the photo shows, whose back and hidden surfaces take that colour
    (an open coat, whose chest shows the shirt between its panels).
    """
    started = time.perf_counter()
    tick = tick or (lambda *a: None)
    verts_px = np.asarray(verts_px, np.float64)
    faces = np.asarray(faces, np.int64)
    alpha = _alpha(mask)
    if not (alpha >= 128).any():
        raise ValueError("texture_mesh: the mask is empty")
    # the box: the mask's, grown to hold the mesh (a dressed mesh may leave the mask a little) as far
    # as the photo goes; a part beyond the photo (legs completed below a half-body photo) takes its
    # part's solid colour
    H, W = alpha.shape
    ys, xs = np.nonzero(alpha >= 128)
    lo = np.maximum(verts_px[:, :2].min(0), 0.0)
    hi = np.minimum(verts_px[:, :2].max(0), [W - 1.0, H - 1.0])
    over = max(0.0, xs.min() - lo[0], hi[0] - xs.max(), ys.min() - lo[1], hi[1] - ys.max())
    sil = S.analyse(alpha, pad=8 + int(np.ceil(over)))
    rgb_box = photo_box(rgb, sil.box)
    head_box = head.cropped(sil.box) if head is not None else find_head(rgb_box, sil.mask)
    tick(0, 5, "front from the photo")
    front = clean_front(rgb_box, sil)
    tick(1, 5, "visibility")
    vis = visible_faces(verts_px, faces, sil.box, sil.height_px, behind=vertex_parts is not None)
    radius = S.local_thickness(sil)
    photo_faces = vis.front & ~rim_grazing(verts_px, faces, sil, radius)
    tick(2, 5, "back fill")
    fill_tick = lambda d, t: tick(2, 5, f"back fill {d}/{t}")  # noqa: E731
    if vertex_parts is None:
        back, notes = back_fill(front, sil, head_box, tick=fill_tick)
        back = side_blend(front, back, sil, radius)
        chart = np.where(photo_faces, FRONT, BACK)
        cell_colours, n_cells, beyond = None, 0, np.zeros(len(faces), bool)
    else:
        names = list(part_names or [])
        face_parts = face_parts_from_vertices(faces, vertex_parts)
        if len(names) <= int(face_parts.max()):
            raise ValueError(f"texture_mesh: vertex_parts index {int(face_parts.max())} but only {len(names)} part names")
        back, cell_colours, notes = part_fill(front, sil, head_box, vis, face_parts, names, radius, tick=fill_tick,
                                              known={**(back_colours or {}), **(part_colours or {})})
        chart = np.where(photo_faces, FRONT, np.where(vis.back | vis.front, BACK, CELL + face_parts))
        # beyond the photo's frame the charts hold only its edge, stretched into streaks
        beyond = beyond_photo(verts_px, faces, W, H)
        chart = np.where(beyond, CELL + face_parts, chart)
        if part_colours:   # one solid colour: the photo's pixels there are the person in front of it
            chart = np.where(np.isin(face_parts, list(part_colours)), CELL + face_parts, chart)
        n_cells = len(names)
    tick(3, 5, "baking")
    atlas = layout(sil.box, int(size), cells=n_cells)
    texture = bake(atlas, front, back, cell_colours)
    tick(4, 5, "UVs")
    # one output vertex per (input vertex, chart key)
    keys = np.repeat(chart[:, None], 3, 1)
    corner = faces * (CELL + n_cells) + keys
    unique, inverse = np.unique(corner.ravel(), return_inverse=True)
    vertex_index, key = np.divmod(unique, CELL + n_cells)
    uv = np.empty((len(unique), 2))
    u = np.clip(verts_px[vertex_index, 0], sil.box[0], sil.box[2] - 1)
    v = np.clip(verts_px[vertex_index, 1], sil.box[1], sil.box[3] - 1)
    for k, back_chart in ((FRONT, False), (BACK, True)):
        sel = key == k
        uv[sel] = atlas.uv(u[sel], v[sel], back=back_chart)
    cell = key >= CELL
    if cell.any():
        uv[cell] = atlas.cell_uv(key[cell] - CELL)
    counts = np.bincount(np.minimum(chart, CELL), minlength=3)
    notes.update({"texture_charts": {"front_faces": int(counts[FRONT]), "back_faces": int(counts[BACK]),
                                     "hidden_faces": int(counts[CELL] - beyond.sum()),
                                     "beyond_frame_faces": int(beyond.sum()),
                                     "grazing_faces": int((vis.front & ~photo_faces).sum())},
                  "texture_seconds": round(time.perf_counter() - started, 3)})
    tick(5, 5, f"{atlas.size}px texture")
    return TexturedMesh(vertex_index=vertex_index, faces=inverse.reshape(-1, 3), uv=np.clip(uv, 0.0, 1.0),
                        texture=texture, face_chart=np.minimum(chart, CELL), notes=notes)
