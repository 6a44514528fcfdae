"""Fit the body model to a finished result mesh, for an engine that has no fitted body of its own.

The photo's landmarks (and person mask) give the body's shape, pose, turn and its place in the photo
(`body.fit.BodyFitter`, the same fit the dressed preview uses). The result mesh's front view is the
photo (orthographic, y up): `photo_to_output` (metres per pixel, u at x = 0, v at y = 0) says how,
exactly for the preview engine, else from the person mask's box against the mesh's (feet at 0,
centred on x). That places the body in x and y; its depth is found on the mesh by trimmed
nearest-point alignment (the body lies inside the clothes, so the closest pairs, where clothes are
tight, decide). Without landmarks the body's reference pose is placed on the mesh by its height,
centre and the same alignment (scale too), with a warning.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..body.fit import FACING_CAMERA, BodyFitter, FitSettings, PoseObservation, camera_pose_and_centre
from ..body.model import BodyModel
from ..body.posed import CAMERA_TO_Y_UP, PosedBody

ALIGN_ROUNDS = 8
ALIGN_SAMPLES = 3000
ALIGN_KEEP = 0.6  # the closest share of body-to-mesh pairs that counts (tight clothes, skin)


def _similarity(model_to_output_rot: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = scale * model_to_output_rot
    t[:3, 3] = shift
    return t


def photo_frame_from_mask(mask: np.ndarray, mesh_vertices: np.ndarray) -> tuple[float, float, float]:
    """(metres per pixel, u at x = 0, v at y = 0) from the person mask's box and the mesh's."""
    ys, xs = np.nonzero(np.asarray(mask) >= 0.5)
    lo, hi = mesh_vertices.min(0), mesh_vertices.max(0)
    m = float((hi[1] - lo[1]) / max(ys.max() + 1 - ys.min(), 1))
    return m, float((xs.min() + xs.max() + 1) / 2 - (lo[0] + hi[0]) / 2 / m), float(ys.max() + 1 + lo[1] / m)


def depth_on_mesh(points: np.ndarray, mesh_vertices: np.ndarray) -> float:
    """The z shift that sets the body's points inside the mesh (trimmed nearest-point alignment)."""
    tree = cKDTree(mesh_vertices)
    rng = np.random.default_rng(0)
    sample = points[rng.choice(len(points), min(ALIGN_SAMPLES, len(points)), replace=False)]
    shift = float(np.median(mesh_vertices[:, 2]) - np.median(sample[:, 2]))
    for _ in range(ALIGN_ROUNDS):
        dist, idx = tree.query(sample + [0.0, 0.0, shift], workers=-1)
        keep = dist <= np.quantile(dist, ALIGN_KEEP)
        shift += float(np.mean(mesh_vertices[idx[keep], 2] - sample[keep, 2] - shift))
    return shift


def align_to_mesh(body_points: np.ndarray, mesh_vertices: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Scale s and shift t so that s * body_points + t sits on the mesh; and the median gap (m)."""
    lo, hi = body_points.min(0), body_points.max(0)
    mlo, mhi = mesh_vertices.min(0), mesh_vertices.max(0)
    s = float((mhi[1] - mlo[1]) / max(hi[1] - lo[1], 1e-6))
    t = np.array([(mlo[0] + mhi[0]) / 2, mlo[1], (mlo[2] + mhi[2]) / 2]) \
        - s * np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
    tree = cKDTree(mesh_vertices)
    rng = np.random.default_rng(0)
    sample = body_points[rng.choice(len(body_points), min(ALIGN_SAMPLES, len(body_points)), replace=False)]
    gap = 0.0
    for _ in range(ALIGN_ROUNDS):
        moved = s * sample + t
        dist, idx = tree.query(moved, workers=-1)
        keep = dist <= np.quantile(dist, ALIGN_KEEP)
        a, b = sample[keep], mesh_vertices[idx[keep]]
        am, bm = a.mean(0), b.mean(0)
        s_new = float(((a - am) * (b - bm)).sum() / max(((a - am) ** 2).sum(), 1e-12))
        s = float(np.clip(s_new, 0.8 * s, 1.25 * s))  # one round cannot run away
        t = bm - s * am
        gap = float(np.median(dist))
    return s, t, gap


def fit_body_to_mesh(model: BodyModel, vertices: np.ndarray, pose=None, mask: np.ndarray | None = None,
                     photo_to_output: tuple[float, float, float] | None = None,
                     fit_settings: FitSettings | None = None) -> tuple[PosedBody, list[str]]:
    """A `PosedBody` on the mesh (output frame), from the photo's `PersonPose` (or None) and mask."""
    warnings: list[str] = []
    vertices = np.asarray(vertices, dtype=np.float64)
    has_mask = mask is not None and bool(np.any(np.asarray(mask) >= 0.5))
    if pose is not None and (photo_to_output is not None or has_mask):
        fitter = BodyFitter(model, fit_settings or FitSettings(iterations=40))
        fit = fitter.fit(PoseObservation.from_person_pose(pose, mask))
        m, u0, v0 = photo_to_output or photo_frame_from_mask(mask, vertices)
        # Camera frame (hip-centred metres) -> pixels (fit.scale, fit.offset) -> output metres.
        turn = CAMERA_TO_Y_UP @ fit.camera_rotation @ FACING_CAMERA.double().numpy()
        scale = m * fit.scale
        hip_centred, _, _, centre = camera_pose_and_centre(model, fitter.landmarks, fit.phenotype, fit.rotations,
                                                           fit.camera_rotation)
        # the posed model's own vertices (model frame), from the camera frame they were turned into
        posed = (hip_centred.astype(np.float64) + centre) @ (fit.camera_rotation @ FACING_CAMERA.double().numpy())
        px = fit.scale * hip_centred[0, :2] + fit.offset
        placed = np.array([(px[0] - u0) * m, (v0 - px[1]) * m, -scale * hip_centred[0, 2]])
        shift = placed - scale * turn @ posed[0]
        points = posed @ (scale * turn).T + shift
        shift[2] += depth_on_mesh(points, vertices)
        facts = {"landmark_error_px": round(fit.landmark_error_px, 2), "fit_seconds": round(fit.seconds, 3),
                 "metres_per_px": round(m, 6)}
        body = PosedBody.from_model(model, fit.phenotype, fit.rotations, _similarity(turn, scale, shift),
                                    "photo landmarks + result mesh", facts)
        return body, warnings
    warnings.append("rig: no body landmarks for this photo; the skeleton is the body model's standing "
                    "pose placed on the mesh, so arms and legs may not match it")
    phenotype, rotations = np.full(6, 0.5), np.zeros((model.num_bones, 3))
    turn = CAMERA_TO_Y_UP @ FACING_CAMERA.double().numpy()
    with torch.no_grad():
        out = model(torch.as_tensor(phenotype, dtype=model.dtype)[None])
    scale, shift, gap = align_to_mesh(out.vertices[0].double().numpy() @ turn.T, vertices)
    facts = {"align_scale": round(scale, 4), "align_median_gap_m": round(gap, 4)}
    body = PosedBody.from_model(model, phenotype, rotations, _similarity(turn, scale, shift),
                                "reference pose + result mesh", facts)
    return body, warnings


def refine_depth(body: PosedBody, mesh_vertices: np.ndarray, bone_map: np.ndarray, weights: np.ndarray,
                 parents: list[int], neighbours: int = 32, rounds: int = 3) -> PosedBody:
    """The fitted body moved in depth, part by part, into the mesh: a photo fixes where a part is across
    the picture, not how near it is. At each body vertex's (x, y), the mesh surfaces just in front of
    and just behind it (among its nearest mesh vertices across the picture) bound the part it is in;
    each skeleton bone's body vertices (dominant weight) move by the median step to the middle of
    theirs (a vertex outside the mesh: to just inside the surface it faces), small parts take their
    parent's step. Vertices move by their weights' blend of the steps, joints by their bone's."""
    tree = cKDTree(mesh_vertices[:, :2])
    _, idx = tree.query(body.vertices[:, :2], k=neighbours, workers=-1)
    depth = mesh_vertices[idx, 2]
    dominant = weights.argmax(1)
    groups = [np.flatnonzero(dominant == k) for k in range(weights.shape[1])]
    shifts = np.zeros(weights.shape[1])
    z = body.vertices[:, 2].copy()
    for _ in range(rounds):
        ahead = np.where(depth >= z[:, None], depth, np.inf).min(1)
        behind = np.where(depth < z[:, None], depth, -np.inf).max(1)
        target = np.where(np.isfinite(ahead) & np.isfinite(behind), (ahead + behind) / 2,
                          np.where(np.isfinite(ahead), ahead + 0.02, behind - 0.02))
        step = np.zeros_like(shifts)
        for k, ids in enumerate(groups):  # parents come first
            if len(ids) >= 20:
                step[k] = float(np.median(target[ids] - z[ids]))
            elif parents[k] >= 0:
                step[k] = step[parents[k]]
        shifts += step
        z = body.vertices[:, 2] + weights @ shifts
    vertices = body.vertices.copy()
    vertices[:, 2] = z
    joints = body.joints.copy()
    joints[:, 2] += shifts[bone_map]
    facts = {**body.facts, "depth_refine_m": round(float(np.abs(shifts).max()), 4)}
    return PosedBody(phenotype=body.phenotype, rotations=body.rotations, model_to_output=body.model_to_output,
                     vertices=vertices, faces=body.faces, joints=joints, bone_rotations=body.bone_rotations,
                     bone_labels=body.bone_labels, bone_parents=body.bone_parents, source=body.source + ", depth refined",
                     mesh_to_body=body.mesh_to_body, facts=facts, limb_scale=body.limb_scale)
