"""Ground-truth observations of a known body, for tests and benchmarks of the fit.

A body with a chosen phenotype and pose is turned toward the camera, projected (orthographically,
or through a pinhole camera with `focal_px`, its axis through the photo's centre), and observed the way the pose step reports a photo: 33 landmarks in pixels with visibility, their
hip-centred metric 3D in camera axes, and the silhouette mask (the projected triangles filled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .fit import PoseObservation, camera_pose, project_to_photo
from .landmarks import LandmarkRegressor
from .model import BodyModel, axis_angle_to_matrix


@dataclass
class KnownBody:
    observation: PoseObservation
    joints_camera: np.ndarray  # (J, 3) metres, camera frame, hip centre at the origin
    vertices_px: np.ndarray  # (V, 2) projected vertices


def observe(model: BodyModel, phenotype, rotvecs: torch.Tensor, yaw_deg: float = 0.0,
            image_size: tuple[int, int] = (1024, 1024), scale: float = 420.0,
            offset: tuple[float, float] | None = None, focal_px: float | None = None,
            limb_scale=None) -> KnownBody:
    """rotvecs (J, 3) model pose; yaw_deg turns the body about the vertical axis; scale: pixels per
    metre at the hip centre's depth; limb_scale: the legs' segments' lengths (model.LIMB_SEGMENTS)."""
    w, h = image_size
    yaw = axis_angle_to_matrix(torch.tensor([0.0, -float(np.deg2rad(yaw_deg)), 0.0]))
    verts, joints, marks = camera_pose(model, LandmarkRegressor(model), phenotype, rotvecs, yaw, limb_scale)
    if offset is None:  # centre the body's projection in the frame
        lo, hi = verts[:, :2].min(0), verts[:, :2].max(0)
        offset = (w / 2 - scale * (lo[0] + hi[0]) / 2, h / 2 - scale * (lo[1] + hi[1]) / 2)
    off = np.asarray(offset, dtype=np.float64)
    centre, inverse = np.array([w / 2, h / 2]), (scale / focal_px if focal_px else 0.0)
    vertices_px = project_to_photo(verts, scale, off, inverse, centre)
    obs = PoseObservation(landmarks_px=project_to_photo(marks, scale, off, inverse, centre), visibility=np.ones(33),
                          world_landmarks=marks.copy(), mask=silhouette(vertices_px, model.faces.numpy(), (w, h)),
                          focal_px=focal_px)
    return KnownBody(observation=obs, joints_camera=joints, vertices_px=vertices_px)


def silhouette(vertices_px: np.ndarray, faces: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The filled projection of a triangle mesh as a boolean (H, W) mask (pixel centres at .5)."""
    import cv2

    w, h = image_size
    mask = np.zeros((h, w), dtype=np.uint8)
    tris = np.round((vertices_px[faces] - 0.5) * 4).astype(np.int32)  # OpenCV's centres are integers; 2 sub-pixel bits
    cv2.fillPoly(mask, list(tris), 1, lineType=cv2.LINE_8, shift=2)
    return mask.astype(bool)
