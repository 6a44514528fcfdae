"""Cameras in the reference's conventions (architecture brief §1.5), producing clip positions.

All helpers negate clip y so that raster row 0 is the TOP of the image, like the generated views (the reference
does the same for its orthographic views and flips its perspective renders instead; one rule here is simpler).

World: z up, the unit cube [-0.5, 0.5]^3, the subject faces -Y. Generated views (`orthographic_clip`):

| view | camera at | image column increases with | note |
| 0 front | -Y | +x | |
| 1 right | +X | +y | |
| 2 back  | +Y | +x | stored mirrored, as generated |
| 3 left  | -X | +y | stored mirrored, as generated |
| 4 face  | -Y | +x | x in [-1/6, 1/6], z in [1/6, 1/2]: the top-centre third of view 0, 3x magnified |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

VIEW_NAMES = ("front", "right", "back", "left", "face")
FACE_REGION = (-1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 0.5)   # x0, x1, z0, z1 of the face view
CAMERA_DISTANCE = 2.0
ORTHO_NEAR, ORTHO_FAR = 0.1, 100.0

# Per view: (world axis along columns, its sign, viewing direction as a world vector).
_ORTHO_AXES = {
    0: (0, 1.0, np.array([0.0, 1.0, 0.0])),
    1: (1, 1.0, np.array([-1.0, 0.0, 0.0])),
    2: (0, 1.0, np.array([0.0, -1.0, 0.0])),
    3: (1, 1.0, np.array([1.0, 0.0, 0.0])),
    4: (0, 1.0, np.array([0.0, 1.0, 0.0])),
}


def view_direction(view: int) -> np.ndarray:
    """Unit vector the camera of generated view `view` looks along (from camera to subject)."""
    return _ORTHO_AXES[view][2].copy()


def _as_float64(vertices) -> torch.Tensor:
    if isinstance(vertices, torch.Tensor):
        return vertices.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(vertices), dtype=torch.float64)


def orthographic_clip(vertices, view: int) -> torch.Tensor:
    """Clip positions (V,4) of z-up world vertices in generated view 0..4 (rows top-down, mirrors as stored)."""
    if view not in _ORTHO_AXES:
        raise ValueError(f"generated views are 0..4, got {view}")
    v = _as_float64(vertices)
    axis, sign, looking = _ORTHO_AXES[view]
    horizontal = sign * v[:, axis]
    vertical = v[:, 2]
    if view == 4:
        x0, x1, z0, z1 = FACE_REGION
        horizontal = (horizontal - 0.5 * (x0 + x1)) * (2.0 / (x1 - x0))
        vertical = (vertical - 0.5 * (z0 + z1)) * (2.0 / (z1 - z0))
    else:
        horizontal = horizontal * 2.0
        vertical = vertical * 2.0
    distance = CAMERA_DISTANCE + v @ torch.as_tensor(looking)
    z_ndc = (2.0 * distance - (ORTHO_FAR + ORTHO_NEAR)) / (ORTHO_FAR - ORTHO_NEAR)
    return torch.stack([horizontal, -vertical, z_ndc, torch.ones_like(z_ndc)], 1)


@dataclass(frozen=True)
class Camera:
    """A perspective camera looking at the origin, TRELLIS convention:
    eye = radius * (sin yaw cos pitch, cos yaw cos pitch, sin pitch), up +z, vertical and horizontal fov in degrees."""

    yaw: float
    pitch: float = 0.0
    radius: float = CAMERA_DISTANCE
    fov: float = 40.0
    near: float = 0.1
    far: float = 10.0

    @property
    def eye(self) -> np.ndarray:
        cp = math.cos(self.pitch)
        return self.radius * np.array([math.sin(self.yaw) * cp, math.cos(self.yaw) * cp, math.sin(self.pitch)])

    def world_to_camera(self) -> np.ndarray:
        """4x4 OpenGL view matrix (camera looks along -z, y up in the image)."""
        eye = self.eye
        forward = -eye / np.linalg.norm(eye)
        up = np.array([0.0, 0.0, 1.0])
        if np.linalg.norm(np.cross(forward, up)) < 1e-6:   # looking straight up or down
            up = np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
        view[:3, 3] = -view[:3, :3] @ eye
        return view

    def projection(self) -> np.ndarray:
        """4x4 OpenGL perspective matrix with y negated (row 0 = image top)."""
        f = 1.0 / math.tan(math.radians(self.fov) / 2.0)
        n, r = self.near, self.far
        return np.array([[f, 0, 0, 0],
                         [0, -f, 0, 0],
                         [0, 0, (r + n) / (n - r), 2 * r * n / (n - r)],
                         [0, 0, -1, 0]], dtype=np.float64)


def perspective_clip(vertices, yaw: float, pitch: float = 0.0, radius: float = CAMERA_DISTANCE,
                     fov: float = 40.0, near: float = 0.1, far: float = 10.0) -> torch.Tensor:
    """Clip positions (V,4) of z-up world vertices seen by a perspective camera (rows top-down)."""
    camera = Camera(yaw, pitch, radius, fov, near, far)
    return camera_clip(vertices, camera)


def camera_clip(vertices, camera: "Camera | int") -> torch.Tensor:
    """Clip positions for a generated view index (0..4) or a perspective `Camera`."""
    if isinstance(camera, (int, np.integer)):
        return orthographic_clip(vertices, int(camera))
    v = _as_float64(vertices)
    matrix = torch.as_tensor(camera.projection() @ camera.world_to_camera())
    homogeneous = torch.cat([v, torch.ones(len(v), 1, dtype=torch.float64)], 1)
    return homogeneous @ matrix.T


def hammersley_sphere(index: int, count: int) -> tuple[float, float]:
    """(yaw, pitch) of point `index` of a `count`-point Hammersley sphere sequence (the reference's cameras)."""
    u = index / count
    v, base, n = 0.0, 0.5, index
    while n:
        v += (n & 1) * base
        n >>= 1
        base *= 0.5
    return v * 2.0 * math.pi, math.acos(1.0 - 2.0 * u) - math.pi / 2.0
