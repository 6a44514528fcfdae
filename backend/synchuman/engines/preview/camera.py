"""The photo's camera: metric points <-> photo pixels.

Metric frame: x right, y up, z towards the camera (the GLB frame's axes). A pinhole camera is
described from a reference point (the fitted body's hip centre), which shows at (u_c, v_c): with
t = p - centre and w = 1 - t_z * inverse_distance,

    u = u_p + (u_c - u_p + s * t_x) / w,   v = v_p + (v_c - v_p - s * t_y) / w,   d = s * t_z / w,

in pixels: (u_p, v_p) is where the camera's axis meets the photo (its centre), s pixels per metre at
the reference's depth. The metric frame is turned about the reference from the camera's, first by
`yaw` (about y): a person off the photo's centre is seen a little from the side, and faces +z once
the line of sight to them is the z axis; then by `pitch` (about x), how far the camera looks down:
the metric frame's y axis is then the world's vertical, and a person standing upright stands
upright in it (a camera looking down sees their head nearer than their feet). The map is projective, so it keeps planes planar: the
engine builds its geometry in (u, v, d), where the photo is an orthographic view of it (the mask
carves straight along d), and maps the result back to metres with `from_photo`. An inverse distance
of 0 is an orthographic camera (the inflation's: it has no fitted body to measure in metres).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NORMAL_LENS_35MM = 50.0  # the focal length assumed without EXIF: the "normal" lens, in 35 mm-film terms
FILM_DIAGONAL_MM = 43.27  # 35 mm film's diagonal: EXIF's 35 mm-equivalent focal length refers to it
NEAREST = 0.2  # w never drops below this: no point reaches the lens
FARTHEST_M = 6.0  # without EXIF, the camera is assumed no farther than this from the person...
PERSON_M = 1.7  # ... whose outline is taken as this tall


def focal_px(size: tuple[int, int], focal_35mm: float | None = None, person_px: float | None = None) -> float:
    """The focal length in pixels of a (width, height) photo, from its EXIF 35 mm-equivalent focal
    length. Without one, the normal lens's, but where that would put a person whose outline is
    `person_px` tall farther than FARTHEST_M away, the lens that puts them there: a person small in
    the frame is more likely shot with a wide lens than from far away with a normal one."""
    if focal_35mm and focal_35mm > 0:
        return float(focal_35mm / FILM_DIAGONAL_MM * np.hypot(*size))
    focal = float(NORMAL_LENS_35MM / FILM_DIAGONAL_MM * np.hypot(*size))
    return min(focal, FARTHEST_M * person_px / PERSON_M) if person_px else focal


@dataclass(frozen=True)
class PhotoCamera:
    px_per_m: float  # at the reference point's depth
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))  # the reference point, metric frame
    centre_px: np.ndarray = field(default_factory=lambda: np.zeros(2))  # its pixel (u, v)
    inverse_distance: float = 0.0  # 1 / the camera's distance to the reference, per metre
    principal_px: np.ndarray = field(default_factory=lambda: np.zeros(2))  # where the axis meets the photo
    yaw: float = 0.0  # radians about y: camera frame -> metric frame, about the reference
    pitch: float = 0.0  # radians the camera looks down (negative: up); then about x

    def turn(self, t: np.ndarray, inverse: bool = False) -> np.ndarray:
        """Reference-relative points turned by the yaw and the pitch (camera -> metric frame), or back."""
        sign = -1.0 if inverse else 1.0
        cy, sy = np.cos(self.yaw), sign * np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), sign * np.sin(self.pitch)
        yawed = lambda t: np.column_stack([cy * t[:, 0] + sy * t[:, 2], t[:, 1], -sy * t[:, 0] + cy * t[:, 2]])  # noqa: E731
        pitched = lambda t: np.column_stack([t[:, 0], cp * t[:, 1] + sp * t[:, 2], -sp * t[:, 1] + cp * t[:, 2]])  # noqa: E731
        return yawed(pitched(t)) if inverse else pitched(yawed(t))

    def to_photo(self, points: np.ndarray, perspective: bool = True) -> np.ndarray:
        """Metric points (N, 3) -> (u, v, d) pixels; `perspective=False` drops the perspective (an
        orthographic view of the same points, for views other than the photo's)."""
        t = self.turn(np.asarray(points, dtype=np.float64) - self.centre, inverse=True)
        w = np.maximum(1.0 - self.inverse_distance * t[:, 2], NEAREST) if perspective else np.ones(len(t))
        p, c, s = self.principal_px, self.centre_px, self.px_per_m
        return np.column_stack([p[0] + (c[0] - p[0] + s * t[:, 0]) / w, p[1] + (c[1] - p[1] - s * t[:, 1]) / w,
                                s * t[:, 2] / w])

    def from_photo(self, px: np.ndarray) -> np.ndarray:
        """(u, v, d) pixels (N, 3) -> metric points: the inverse of `to_photo`."""
        px = np.asarray(px, dtype=np.float64)
        p, c, s = self.principal_px, self.centre_px, self.px_per_m
        tz = px[:, 2] / (s + self.inverse_distance * px[:, 2])
        w = 1.0 - self.inverse_distance * tz
        return self.centre + self.turn(np.column_stack([((px[:, 0] - p[0]) * w - (c[0] - p[0])) / s,
                                                        ((c[1] - p[1]) - (px[:, 1] - p[1]) * w) / s, tz]))

    def moved(self, scale: float, shift: np.ndarray) -> "PhotoCamera":
        """The same camera for points moved to `scale * p + shift`."""
        return PhotoCamera(self.px_per_m / scale, scale * self.centre + shift, self.centre_px,
                           self.inverse_distance / scale, self.principal_px, self.yaw, self.pitch)

    def as_dict(self) -> dict:
        return {"px_per_m": float(self.px_per_m), "centre_m": [float(x) for x in self.centre],
                "centre_px": [float(x) for x in self.centre_px], "inverse_distance_per_m": float(self.inverse_distance),
                "principal_px": [float(x) for x in self.principal_px], "yaw_rad": float(self.yaw),
                "pitch_rad": float(self.pitch)}
