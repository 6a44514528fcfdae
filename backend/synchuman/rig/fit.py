"""Fit the body model to a finished result mesh, for an engine that has no fitted body of its own.

The photo's landmarks (and person mask) give the body's shape, pose and turn (`body.fit.BodyFitter`,
the same fit the dressed preview uses). The result mesh then places it: the body is turned into
the output frame the way the camera sees it, scaled and moved onto the mesh (first by their
heights and centres, then by a few rounds of trimmed nearest-point alignment: the body lies
inside the clothes, so the closest pairs, where clothes are tight, decide).
Without landmarks the body's reference pose is placed the same way, with a warning.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..body.fit import FACING_CAMERA, BodyFitter, FitSettings, PoseObservation
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
                     fit_settings: FitSettings | None = None) -> tuple[PosedBody, list[str]]:
    """A `PosedBody` on the mesh (output frame), from the photo's `PersonPose` (or None) and mask."""
    warnings: list[str] = []
    vertices = np.asarray(vertices, dtype=np.float64)
    if pose is not None:
        fit = BodyFitter(model, fit_settings or FitSettings(iterations=40)).fit(
            PoseObservation.from_person_pose(pose, mask))
        phenotype, rotations, camera = fit.phenotype, fit.rotations, fit.camera_rotation
        facts = {"landmark_error_px": round(fit.landmark_error_px, 2), "fit_seconds": round(fit.seconds, 3)}
        source = "photo landmarks + result mesh"
    else:
        phenotype = np.full(6, 0.5)
        rotations = np.zeros((model.num_bones, 3))
        camera = np.eye(3)
        facts = {}
        source = "reference pose + result mesh"
        warnings.append("rig: no body landmarks for this photo; the skeleton is the body model's standing "
                        "pose placed on the mesh, so arms and legs may not match it")
    turn = CAMERA_TO_Y_UP @ np.asarray(camera, dtype=np.float64) @ FACING_CAMERA.double().numpy()
    with torch.no_grad():
        out = model(torch.as_tensor(phenotype, dtype=model.dtype)[None],
                    torch.as_tensor(rotations, dtype=model.dtype)[None])
    points = out.vertices[0].double().numpy() @ turn.T
    scale, shift, gap = align_to_mesh(points, vertices)
    facts.update({"align_scale": round(scale, 4), "align_median_gap_m": round(gap, 4)})
    body = PosedBody.from_model(model, phenotype, rotations, _similarity(turn, scale, shift), source, facts)
    return body, warnings
