"""A backpack behind the fitted torso, where `straps.find_straps` saw its straps in the photo. Without
it the dressed body is too shallow by its depth (15-20 cm), and a bounding box set by the back lies
that much off. `Backpack.place` puts a typical daypack behind the fitted torso, and
`Backpack.signed_distance` is its rounded box for the dressed volume (dress.occupancy), which the mask
then carves like the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dress import Solid
from .straps import Straps

# a typical 20-25 litre daypack: width, height, depth (metres) and its edges' rounding
SIZE_M = (0.30, 0.42, 0.16)
ROUNDING_M = 0.04
SURFACE_M = 0.01  # the dressed mesh's vertices this near the box are the backpack's (its texture part)


@dataclass
class Backpack:
    """A daypack behind the fitted torso: a rounded box in the metric frame (y up)."""

    centre: np.ndarray  # (3,) metres
    axes: np.ndarray  # (3, 3) rows: the person's left, up, forward (unit vectors)
    half: np.ndarray  # (3,) half-extents along the axes, metres (rounding included)
    colour_rgb: np.ndarray  # (3,) uint8: the straps' colour

    @classmethod
    def place(cls, body, straps: Straps) -> "Backpack | None":
        """Behind a fitted body's upper torso (`body_fit.PhotoBody`), its top at the torso's top (where
        the straps leave it over the shoulders; 4 cm lower, the benchmark's packs' middles sat 3-6 cm
        low), centred on the spine, turned with the torso; None if the body has no torso to carry it."""
        metric = body.camera.from_photo(body.vertices_px)
        part = lambda name: metric[body.vertex_parts == body.part_names.index(name)]  # noqa: E731
        torso = part("torso")
        if len(torso) == 0:
            return None
        top = float(np.percentile(torso[:, 1], 97))
        half = np.array(SIZE_M) / 2
        # turned as the torso is, by its joints (not as the upper arms are: a walker swings them); the
        # turn is the camera's, the metric frame faces the line of sight to the hips (camera.py)
        across = body.camera.turn(np.array([[np.cos(body.torso_turn), 0.0, np.sin(body.torso_turn)]]))[0]
        across[1] = 0.0
        across /= np.linalg.norm(across)
        up = np.array([0.0, 1.0, 0.0])
        forward = np.cross(across, up)
        # the back under the pack: the torso's vertices at its height, near the spine
        centre_line = torso.mean(0)
        band = torso[(torso[:, 1] < top) & (torso[:, 1] > top - 2 * half[1])
                     & (np.abs((torso - centre_line) @ across) < half[0])]
        if len(band) == 0:
            return None
        back = float(((band - centre_line) @ forward).min())
        centre = centre_line + (back - half[2]) * forward
        centre[1] = top - half[1]
        return cls(centre=centre, axes=np.stack([across, up, forward]), half=half, colour_rgb=straps.colour_rgb)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Metres from metric points (N, 3) to the rounded box (negative inside)."""
        local = np.abs((np.asarray(points, np.float64) - self.centre) @ self.axes.T) - (self.half - ROUNDING_M)
        outside = np.linalg.norm(np.maximum(local, 0.0), axis=1)
        return outside + np.minimum(local.max(1), 0.0) - ROUNDING_M

    def corners(self) -> np.ndarray:
        """(8, 3) metric corners of its bounding box."""
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
        return self.centre + (signs * self.half) @ self.axes

    def in_photo(self, camera) -> Solid:
        """The pack in the engine's photo frame (`camera.PhotoCamera`; distances scaled at the camera's
        reference depth, exact for the preview's orthographic camera)."""
        corners = camera.to_photo(self.corners())
        return Solid(lo=corners.min(0), hi=corners.max(0),
                     signed_distance=lambda px: self.signed_distance(camera.from_photo(px)) * camera.px_per_m)
