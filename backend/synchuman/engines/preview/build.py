"""The preview pipeline from a photo to a textured mesh in memory (the engine writes it out).

Frames: everything is computed in photo pixels (u right, v down, d towards the camera), where the
photo is an orthographic view; the photo's camera (camera.py: the fitted body's, or an orthographic
one in pixels for the inflation) maps that to metres, then to the GLB frame: y up, the person
facing +Z, feet on y = 0, centred on x and z, scaled so that the mesh is `height_m` tall.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...common import ProgressFn
from ...foreground import PersonCut, cut_person
from ...geometry.mesh_utils import edge_topology
from ...heap import release_free_memory
from ...images import write_png
from . import dress as D
from . import mesh as M
from . import silhouette as S
from . import surface
from .backpack import SIZE_M, SURFACE_M, Backpack
from .beside import beside
from .body_fit import fit_body
from .camera import PhotoCamera, focal_px
from .head import Head, find_head
from .straps import find_straps
from .texture import photo_box, texture_mesh
from .views import render_view

if TYPE_CHECKING:
    from ...body.posed import PosedBody
    from ...rig import RigResult

log = logging.getLogger("synchuman.preview")


VIEW_MAX_SIDE = 1024
ROUGHNESS = 0.8
# Parts whose clothes the mask's reach beyond the body does not deepen (dress._depth_ease): the face
# and hands are bare, hair is no clothing, and a torso is wider than deep (with its ease, the
# benchmark's torsos came out 2-4 mm further from the truth)
UNEASED_PARTS = ("head", "neck", "torso", "hand.L", "hand.R")
CHEST_SHARE = 0.3  # of the torso's width, about its middle: the chest an open coat shows between its panels
COAT_PARTS = ("torso", "hips", "thigh.L", "thigh.R", "shin.L", "shin.R")   # an open coat covers them down to its hem
HEAD_DEPTH_BOOST = 0.4   # inflation makes a round blob ~0.75x as deep as wide; a head is deeper than wide
METHOD_ENV = "SYNCHUMAN_PREVIEW_METHOD"   # "inflation" forces the fallback (benchmarks compare the two)


@dataclass
class PreviewBuild:
    vertices: np.ndarray          # (V, 3) GLB frame, metres (seam vertices duplicated for UVs)
    faces: np.ndarray             # (F, 3)
    uv: np.ndarray                # (V, 2)
    normals: np.ndarray           # (V, 3)
    texture: np.ndarray           # (T, T, 3) uint8
    closed_vertices: np.ndarray   # (Vc, 3) the same surface without seam duplicates (watertight)
    closed_faces: np.ndarray
    photo_size: tuple[int, int]   # (W, H)
    camera: PhotoCamera           # GLB frame <-> photo pixels
    mask: np.ndarray              # (H, W) bool, the foreground used
    person: PersonCut             # the foreground + pose step's result
    notes: dict = field(default_factory=dict)
    body: PosedBody | None = None         # the fitted body in the GLB frame (None: the inflation ran)
    vertex_parts: np.ndarray | None = None   # (Vc,) per closed vertex: index into part_names
    part_names: list[str] | None = None
    rig: RigResult | None = None          # skeleton and skin weights per GLB vertex (None: settings.rig is off)

    # -- outputs ---------------------------------------------------------------------------------
    def write_glb(self, path: Path) -> Path:
        from ...export.glb import write_glb

        return write_glb(path, self.vertices, self.faces, self.uv, self.texture, roughness=ROUGHNESS, metallic=0.0,
                         vertex_normals=self.normals, name="human")

    def photo_coords(self, vertices: np.ndarray, perspective: bool = True) -> np.ndarray:
        """GLB-frame points -> photo (u, v, depth in pixels), through the fitted camera."""
        return self.camera.to_photo(vertices, perspective)

    @property
    def to_photo(self) -> tuple[float, float, float]:
        """(metres per pixel, u of x = 0, v of y = 0): `_to_photo` of the camera."""
        return _to_photo(self.camera)

    def render_view(self, view: str = "front", max_side: int = VIEW_MAX_SIDE, background=(235, 235, 235),
                    progress=None) -> tuple[np.ndarray, np.ndarray]:
        """An orthographic view (views.VIEWS): rgb, coverage. The front one is the photo's camera's
        (downscaled to `max_side`), the side and back ones are framed on the mesh."""
        coords = self.photo_coords(self.vertices, perspective=view == "front")
        return render_view(coords, self.faces, self.uv, self.texture, view,
                           photo_size=self.photo_size, max_side=max_side, background=background, tick=progress)

    def write_view(self, path: Path, view: str = "front", progress=None) -> Path:
        """Render a view into a PNG; the front one also records its silhouette IoU in the notes."""
        rgb, cover = self.render_view(view, progress=progress)
        if view == "front":
            self.notes["front_silhouette_iou"] = round(silhouette_iou(cover, self.mask), 5)
        return write_png(path, rgb)

    def metadata(self) -> dict:
        return {"preview": {**self.notes, "mesh": mesh_report(self.closed_vertices, self.closed_faces),
                            "glb_vertices": int(len(self.vertices)), "glb_faces": int(len(self.faces)),
                            "texture_size": int(self.texture.shape[0])}}


def silhouette_iou(cover: np.ndarray, mask: np.ndarray) -> float:
    """IoU of a render's coverage with a (possibly larger) photo mask, at the render's size."""
    if cover.shape != mask.shape:
        mask = cv2.resize(mask.astype(np.float32), (cover.shape[1], cover.shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
    inter = np.count_nonzero(cover & mask)
    union = np.count_nonzero(cover | mask)
    return inter / max(union, 1)


def mesh_report(vertices: np.ndarray, faces: np.ndarray) -> dict:
    """Closedness and orientation from edge counts (cheap; no trimesh needed)."""
    directed_unique = M.directed_edges_unique(faces)
    counts = edge_topology(faces).face_count
    volume = _volume(vertices, faces)
    lo, hi = vertices.min(0), vertices.max(0)
    return {"vertices": int(len(vertices)), "faces": int(len(faces)),
            "watertight": bool((counts == 2).all()), "winding_consistent": bool(directed_unique),
            "volume_m3": round(volume, 5), "bounds_m": [[round(float(x), 4) for x in lo], [round(float(x), 4) for x in hi]]}


def _grid_cell(area_px: int, max_faces: int) -> float:
    """Grid spacing (pixels) so the front sheet has about twice its share of faces before reduction."""
    per_sheet = max_faces / 2
    return float(max(1.0, np.sqrt(2.0 * area_px / (2.0 * per_sheet))))


def build_preview(photo, settings, progress: ProgressFn, method: str | None = None) -> PreviewBuild:
    """Photo -> PreviewBuild. `progress(stage, done, total, message)` is called throughout (it also
    raises when the job is cancelled). `method`: "auto" (the fitted, dressed body; the inflation when
    no body can be fitted) or "inflation" (benchmarks compare the two); default from $SYNCHUMAN_PREVIEW_METHOD."""
    method = method or os.environ.get(METHOD_ENV, "auto")
    if method not in ("auto", "inflation"):
        raise ValueError(f"unknown preview method {method!r}")
    rgba = photo.rgba
    H, W = rgba.shape[:2]
    notes: dict = {"warnings": []}

    # 1. foreground and pose
    progress("foreground", 0, 1, "using the alpha channel" if photo.has_alpha else "finding the person")
    person = cut_person(photo, settings.person_box, progress=lambda d, t, m="": progress("foreground", d, t + 1, m))
    alpha = person.alpha
    mask = alpha >= 128
    progress("foreground", 1, 1, f"{100 * mask.mean():.1f}% of the photo")

    # 2. silhouette fields and the body
    progress("silhouette", 0, 3, "distance field")
    sil = S.analyse(alpha)
    progress("silhouette", 1, 3, "local thickness")
    radius = S.local_thickness(sil)
    progress("silhouette", 2, 3, "finding the head")
    rgb_box = photo_box(rgba[..., :3], sil.box)
    head = find_head(rgb_box, sil.mask)
    progress("silhouette", 3, 3, f"fields ready (head: {head.method})")
    body, why, straps, inflated = None, "the inflation was asked for", None, None
    if method == "auto":
        progress("body", 0, 1, "fitting the body model")
        # the fit runs on one thread: what the photo alone decides is found on the other meanwhile
        with beside(_photo_only, rgba[..., :3], mask, person.pose, sil, radius) as photo_only:
            body, why = fit_body(person.pose, mask, focal_px((W, H), photo.focal_35mm, sil.height_px))
            straps, inflated = photo_only.result()
        progress("body", 1, 1, "body fitted" if body is not None else why)
    backpack = None
    if body is not None:
        backpack = Backpack.place(body, straps) if straps is not None else None
        if backpack is not None:
            log.info("a backpack's straps are in the photo: a daypack goes behind the back")
            notes["backpack"] = {"straps_rgb": [int(c) for c in backpack.colour_rgb], "size_m": list(SIZE_M),
                                 "note": "a typical daypack behind the back, seen by its straps (its size is a guess)"}

    # 3. geometry in photo pixels (its volume's arrays are the job's largest: what the fit and the
    # photo's steps freed goes back to the system first, so they do not stack on it)
    release_free_memory()
    dressed = _dressed_geometry(body, sil, inflated, rgba[..., :3], mask, settings, progress, backpack) \
        if body is not None else None
    if body is not None and dressed is None:
        body, why = None, (f"reduced to {settings.max_faces} faces, the dressed surface did not stay closed; "
                           "a larger face budget (Face Budget, --max-faces) may keep it")
    if body is not None:
        closed_px, closed_faces, geo = dressed
        notes.update(method="body", method_text="the fitted body model, dressed by the photo's silhouette "
                     "(classical: not the neural SyncHuman method)", body_fit=body.facts, **geo)
        for w in body.warnings:
            log.warning(w)
            notes["warnings"].append(w)
    else:
        if method == "auto":
            w = f"No dressed body ({why}): the preview is the person's silhouette inflated instead."
            log.warning(w)
            notes["warnings"].append(w)
        closed_px, closed_faces, geo = _inflated_geometry(sil, radius, head, settings, progress)
        notes.update(method="inflation", method_text="classical: silhouette inflation (not the neural SyncHuman "
                     "method)", **geo)
    progress("geometry", 4, 5, "placing")
    # photo pixels -> metres (the photo's camera) -> GLB frame
    camera = body.camera if body is not None else PhotoCamera(1.0)  # the inflation: in pixels until scaled
    metric = camera.from_photo(closed_px)
    lo, hi = metric.min(0), metric.max(0)
    m = float(settings.height_m) / max(hi[1] - lo[1], 1e-6)
    shift = -m * np.array([0.5 * (lo[0] + hi[0]), lo[1], 0.5 * (lo[2] + hi[2])])
    closed = m * metric + shift
    camera = camera.moved(m, shift)
    if _volume(closed, closed_faces) < 0:   # v runs down the photo: the mirror flips the winding
        closed_faces = closed_faces[:, [0, 2, 1]]
    progress("geometry", 5, 5, f"{len(closed_faces)} faces, {len(closed)} vertices")

    posed, vertex_parts, part_names, part_colours, back_colours = None, None, None, {}, {}
    if body is not None:
        metric_to_output = np.diag([m, m, m, 1.0])
        metric_to_output[:3, 3] = shift
        posed, vertex_parts = _posed_body(body, metric_to_output @ body.model_to_metric, closed)
        part_names = list(body.part_names)
        if backpack is not None:   # its own part, in its straps' colour (the photo does not show it)
            on_pack = backpack.signed_distance(body.camera.from_photo(closed_px)) < SURFACE_M
            vertex_parts = np.where(on_pack, len(part_names), vertex_parts)
            part_names.append("backpack")
            part_colours[len(part_names) - 1] = backpack.colour_rgb
        if geo.get("open_coat"):   # its own part down to its hem, in its colour: the back of an open coat
            # is the coat's, where the part fill continued the shirt between its panels
            under = np.isin(vertex_parts, [part_names.index(p) for p in COAT_PARTS])
            vertex_parts = np.where(under & (closed_px[:, 1] <= geo["open_coat_hem_v"]), len(part_names), vertex_parts)
            part_names.append("coat")
            back_colours[len(part_names) - 1] = np.array(geo["open_coat_rgb"], np.uint8)

    # 4. texture (one path for both geometries; without body parts, the back is the colour-cluster
    # fill) and the rig, which needs the closed mesh only: it runs on the second core meanwhile.
    closed_normals = M.vertex_normals(closed, closed_faces)
    with beside(_rig, closed, closed_faces, closed_normals, posed, person, camera, settings) if settings.rig \
            else nullcontext() as rigging:
        textured = texture_mesh(rgba[..., :3], alpha, closed_px, closed_faces, vertex_parts, part_names,
                                head.placed(sil.box, (H, W)), int(settings.texture_size), part_colours=part_colours,
                                back_colours=back_colours, tick=lambda d, t, msg="": progress("texture", d, t, msg))
        rig = rigging.result().at(textured.vertex_index) if rigging is not None else None
    notes.update(textured.notes)
    verts = closed[textured.vertex_index]
    if posed is not None:  # per GLB vertex (seam vertices repeated), as views/body.npz keeps it
        posed.mesh_to_body = posed.mesh_to_body[textured.vertex_index]
    normals = closed_normals[textured.vertex_index]
    uv, glb_faces, texture = textured.uv, textured.faces, textured.texture

    height_px = float(np.ptp(closed_px[:, 1]))
    # photo pixel (u, v) of a GLB point: camera.py's formula with these numbers
    notes.update({"photo_px_per_m": round(camera.px_per_m, 4), "photo_frame": camera.as_dict(),
                  "height_px": round(height_px, 2)})
    return PreviewBuild(vertices=verts, faces=glb_faces, uv=uv, normals=normals, texture=texture,
                        closed_vertices=closed, closed_faces=closed_faces, photo_size=(W, H),
                        camera=camera, mask=mask, person=person, notes=notes,
                        body=posed, vertex_parts=vertex_parts, part_names=part_names, rig=rig)


def _rig(vertices, faces, normals, posed: PosedBody | None, person: PersonCut, camera: PhotoCamera, settings):
    """The rig (skeleton and skin weights) of the closed mesh in the GLB frame; without a fitted
    body, the rig fits one to the mesh."""
    from ...rig import rig_result

    # a copy of the body: the texture step re-indexes its mesh_to_body meanwhile
    body = dataclasses.replace(posed) if posed is not None else None
    return rig_result(vertices, faces, body=body, pose=person.pose, mask=person.alpha, photo_to_output=_to_photo(camera),
                      names=settings.rig_names, rest_pose=settings.rest_pose, normals=normals)


def _to_photo(c: PhotoCamera) -> tuple[float, float, float]:
    """(metres per pixel, u of x = 0, v of y = 0): the camera without perspective, yaw or pitch
    (exact for the inflation's orthographic, level one)."""
    return (1.0 / c.px_per_m, float(c.centre_px[0] - c.px_per_m * c.centre[0]),
            float(c.centre_px[1] + c.px_per_m * c.centre[1]))


def _volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _photo_only(rgb: np.ndarray, mask: np.ndarray, pose, sil: S.Silhouette, radius):
    """What the dressed body takes from the photo alone: a backpack's straps (None: none seen) and the
    silhouette's inflation depth (`_inflation_depth`)."""
    straps = find_straps(rgb, mask, pose.image) if pose is not None else None
    return straps, _inflation_depth(sil, radius, None)


def _dressed_geometry(body, sil: S.Silhouette, inflated, rgb: np.ndarray, mask: np.ndarray, settings, progress,
                      backpack=None):
    """The fitted body dressed by the mask (dress.py), carrying `backpack` (backpack.Backpack) if any;
    `inflated`, the silhouette's inflation depth (`_inflation_depth`); `rgb`, the photo, shows where an
    open coat's front is the legs: closed mesh in photo pixels, faces, facts; None when the face budget
    is too small to keep it closed."""
    progress("geometry", 0, 5, "dressing the body")
    cell = D.grid_cell(sil.height_px, settings.max_faces)
    H, W = mask.shape
    cut = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
    px = body.vertices_px
    beyond = (px[:, 0] < -0.5) | (px[:, 1] < -0.5) | (px[:, 0] > W - 0.5) | (px[:, 1] > H - 0.5)
    complete = (W, H) if cut and beyond.mean() > 0.02 else None
    if complete is not None:   # the grid spans the whole body: keep its cell count
        cell = D.grid_cell(max(sil.height_px, float(np.ptp(px[:, 1]))), settings.max_faces)
        body.warnings.append("The person is cut by the photo's frame: the parts outside it are completed from "
                             "the fitted body model (a guess, without clothes).")
    hips = px[body.vertex_parts == body.part_names.index("hips")]
    hip_row, hip_width = float(np.median(hips[:, 1])), float(np.ptp(hips[:, 0]))
    hands_px = px[np.isin(body.vertex_parts, [body.part_names.index("hand.L"), body.part_names.index("hand.R")])]
    bare_px = px[np.isin(body.vertex_parts, [body.part_names.index(p) for p in UNEASED_PARTS])]
    solids = (backpack.in_photo(body.camera),) if backpack is not None else ()
    roomy_px = _thighs_at_the_camera(body)
    sleeves_px, chest_px = _sleeves_and_chest(body)
    for _ in range(2):
        vol, origin, facts = D.occupancy(body.vertices_px, body.faces, sil, cell, inflated, hip_row, complete, solids,
                                         body.torso_turn, hands_px, hip_width, rgb, bare_px, roomy_px, sleeves_px,
                                         chest_px)
        progress("geometry", 2, 5, "surface")
        px, faces = surface.extract(vol, origin, cell, settings.max_faces)
        if len(faces) <= settings.max_faces:
            return px, faces, {"geometry": "body + garment volume, marching cubes", **facts}
        cell *= 1.3   # the reduction could not keep it closed: a coarser grid, once
    return None   # a budget this small loses the thin parts: the caller inflates instead


def _sleeves_and_chest(body) -> tuple[np.ndarray, np.ndarray]:
    """Photo points of the fitted upper arms, and of the torso's middle (CHEST_SHARE of its width about
    its middle column): where a coat's sleeves and, between its open front, the shirt show."""
    px, names = body.vertices_px, body.part_names
    sleeves = px[np.isin(body.vertex_parts, [names.index("upper_arm.L"), names.index("upper_arm.R")])]
    torso = px[body.vertex_parts == names.index("torso")]
    middle = np.abs(torso[:, 0] - np.median(torso[:, 0])) < 0.5 * CHEST_SHARE * np.ptp(torso[:, 0])
    return sleeves, torso[middle]


def _thighs_at_the_camera(body) -> np.ndarray | None:
    """Photo points of the fitted thighs that point at the camera (a seated person's): deeper than
    they are long or wide in the photo. None if neither does."""
    px = body.vertices_px
    thighs = [px[body.vertex_parts == body.part_names.index(p)] for p in ("thigh.L", "thigh.R")]
    at_camera = [t for t in thighs if len(t) and np.ptp(t[:, 2]) > np.ptp(t[:, :2], 0).max()]
    return np.concatenate(at_camera) if at_camera else None


def _inflated_geometry(sil: S.Silhouette, radius, head: Head, settings, progress) -> tuple[np.ndarray, np.ndarray, dict]:
    """The silhouette inflated (silhouette.py, mesh.py): closed mesh in photo pixels."""
    progress("geometry", 0, 5, "inflation field")
    depth = _inflation_depth(sil, radius, head)
    cell = _grid_cell(sil.area_px, settings.max_faces)
    u0, v0, u1, v1 = sil.box
    target = max(500, settings.max_faces // 2)

    def front_sheet(cell: float):
        cols = int(np.ceil((u1 - 1 - u0) / cell)) + 2
        rows = int(np.ceil((v1 - 1 - v0) / cell)) + 2
        sheet = M.triangulate_region(lambda u, v: sil.sample(sil.phi, u, v, outside=-1.0), u0, v0, cols, rows, cell)
        progress("geometry", 1, 5, f"{len(sheet.faces)} faces per side")
        z = depth(sheet.xy[:, 0], sheet.xy[:, 1], sheet.phi)
        z = np.where(sheet.border, 0.0, np.maximum(z, 1e-3))
        progress("geometry", 2, 5, "reducing")
        return M.reduce_sheet(np.column_stack([sheet.xy, z]), sheet.faces, sheet.border, target)

    xyz, faces, border = front_sheet(cell)
    for _ in range(4):   # the contour is locked: if it alone needs too many faces, use a coarser grid
        if len(faces) <= target:
            break
        cell *= 1.1 * float(np.sqrt(len(faces) / target))
        xyz, faces, border = front_sheet(cell)
    xyz[~border, 2] = np.maximum(xyz[~border, 2], 1e-3)
    progress("geometry", 3, 5, "closing")
    closed_px, closed_faces, _ = M.close_sheets(xyz, faces, border)
    return closed_px, closed_faces, {"grid_cell_px": round(cell, 3),
                                     "depth_profile": "Poisson inflation, round limbs, torso depth 0.62 of its width"}


def _inflation_depth(sil: S.Silhouette, radius, head: Head | None):
    """The inflation's half-depth (pixels) at photo points: `depth(u, v, phi=None)` (phi: the exact
    signed distance there, when known). With `head`, the head is made deeper than a round blob."""
    ratio = S.depth_ratio_field(sil, radius)
    inflation = S.inflation_field(sil)
    head_weight = _head_weight(head, sil) if head is not None else None

    def depth(u, v, phi=None):
        phi = sil.sample(sil.phi, u, v, outside=-1.0) if phi is None else phi
        z = sil.sample(ratio, u, v, outside=1.0) * np.sqrt(2.0 * inflation.at(u, v, phi))
        if head_weight is not None:
            z = z * (1.0 + HEAD_DEPTH_BOOST * sil.sample(head_weight, u, v))
        return z

    return depth


def _posed_body(body, model_to_output: np.ndarray, closed: np.ndarray):
    """The fitted body in the output frame (with the mesh <-> body correspondence) and each closed
    vertex's body part (that of its nearest body vertex)."""
    from scipy.spatial import cKDTree

    from ...body.posed import PosedBody
    from .body_fit import shared_fitter

    posed = PosedBody.from_model(shared_fitter().model, body.fit.phenotype, body.fit.rotations, model_to_output,
                                 source="photo landmarks + mask (preview engine)",
                                 facts={**body.facts, "warnings": body.warnings}, limb_scale=body.fit.limb_scale)
    _, nearest = cKDTree(posed.vertices).query(closed)
    posed.mesh_to_body = nearest.astype(np.int64)
    return posed, body.vertex_parts[nearest]


def _head_weight(head: Head, sil: S.Silhouette) -> np.ndarray:
    """A soft (blurred) head mask in the box's frame, 0 where there is no head."""
    h, w = sil.mask.shape
    if not head.mask.any():
        return np.zeros((h, w), np.float32)
    s = min(1.0, 200.0 / max(h, w))
    small = cv2.resize(head.mask.astype(np.float32), (max(4, round(w * s)), max(4, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.8, 0.01 * sil.height_px * s))
    weight = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # no boost below the chin: the neck keeps its own, thinner depth
    rows = np.arange(h, dtype=np.float32)[:, None]
    ramp = max(2.0, 0.015 * sil.height_px)
    return weight * np.clip((head.bottom - rows) / ramp, 0.0, 1.0)
