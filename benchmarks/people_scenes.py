"""Backgrounds and props for the clothed-people benchmark.

Backgrounds are ray-cast per pixel: a floor (y = 0) and a wall behind the person, textured with the
CC0 / public-domain photos that scikit-image ships (brick, grass, gravel: CC0Textures; coffee, chelsea:
CC0 by their photographers; rocket: SpaceX, public domain), or a full-frame photo, or a street built
from those textures. Props (a box to sit on, a dog, a ball, street furniture) are signed-distance
groups meshed like the people, so they share the z-buffer.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from people_render import Camera
from people_shapes import Group, ellipsoid, rounded_box, round_cone

BACKDROPS = ("studio", "brick_room", "garden", "gravel_yard", "street", "photo_rocket", "photo_coffee",
             "photo_chelsea")


def texture(name: str) -> np.ndarray:
    """A scikit-image sample as float RGB in 0..1; grey textures are tinted like the real material."""
    import skimage.data as data

    img = getattr(data, name)().astype(np.float32) / 255.0
    if name == "brick":   # shipped rotated by 90 degrees: courses run horizontally again
        img = img.T
    if img.ndim == 2:
        tint = {"brick": (1.0, 0.62, 0.48), "grass": (0.55, 0.85, 0.38), "gravel": (0.95, 0.9, 0.82)}.get(name, (1, 1, 1))
        img = img[..., None] * np.array(tint, np.float32)
    return img[..., :3]


def sample(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup in texel units, tiled outside the image."""
    return np.stack([ndimage.map_coordinates(img[..., c], [v.ravel(), u.ravel()], order=1, mode="grid-wrap")
                     .reshape(u.shape) for c in range(3)], -1)


def _street_facade(rng: np.random.Generator) -> np.ndarray:
    """A street front (1024 x 512 texels for 16 m x 8 m): brick and plaster houses, windows, doors,
    shop signs, a parked car and lamp posts."""
    h, w = 512, 1024
    brick = np.tile(texture("brick"), (1, 2, 1))[:h, :w]
    out = np.empty((h, w, 3), np.float32)
    x0 = 0
    while x0 < w:
        width = int(rng.integers(150, 260))
        base = brick if rng.random() < 0.5 else np.ones((h, w, 3), np.float32) * rng.uniform(0.5, 0.9, 3)
        out[:, x0:x0 + width] = base[:, x0:x0 + width] * rng.uniform(0.75, 1.05)
        for wy in range(40, h - 150, 90):
            for wx in range(x0 + 20, x0 + width - 40, 55):
                out[wy:wy + 55, wx:wx + 32] = np.array([0.25, 0.3, 0.38]) + 0.15 * rng.random()
                out[wy:wy + 55, wx + 15:wx + 17] = 0.85
        shop = rng.uniform(0.2, 0.9, 3)
        out[h - 150:h - 120, x0 + 10:x0 + width - 10] = shop
        out[h - 110:h, x0 + 30:x0 + 70] = [0.3, 0.2, 0.12]
        out[h - 110:h - 20, x0 + 90:x0 + width - 30] = [0.5, 0.6, 0.65]
        x0 += width
    return out


class Backdrop:
    """Floor + wall (or a flat photo) seen through the camera, with a soft contact shadow."""

    def __init__(self, kind: str, rng: np.random.Generator):
        if kind not in BACKDROPS:
            raise ValueError(f"unknown backdrop {kind!r}; choose from {BACKDROPS}")
        self.kind, self.rng = kind, rng
        self.wall_z = {"street": -7.0, "garden": -6.0}.get(kind, -2.2)

    def _wall(self, x, y):
        k = self.kind
        if k == "studio":
            tone = self.rng.uniform(0.55, 0.85, 3) * 0.9 + 0.1
            return np.ones(x.shape + (3,)) * tone * (0.8 + 0.25 * np.exp(-(x ** 2 + (y - 1.6) ** 2) / 4.0))[..., None]
        if k == "brick_room":
            return sample(texture("brick"), x * 180.0, (3.0 - y) * 180.0)
        if k == "garden":
            return sample(texture("brick"), x * 60.0, (3.0 - y) * 60.0) * 0.9
        if k == "gravel_yard":   # a plaster wall with a photo poster on it
            grain = sample(texture("gravel"), x * 120.0, y * 120.0)
            out = 0.72 + 0.25 * (grain - 0.5) * np.array([1.0, 0.97, 0.9])
            poster = (np.abs(x - 0.9) < 0.75) & (np.abs(y - 1.55) < 0.5)
            out[poster] = sample(texture("coffee"), (x[poster] - 0.15) * 400.0, (2.05 - y[poster]) * 400.0)
            return out
        facade = _street_facade(self.rng)
        return sample(facade, (x + 8.0) * 64.0, (8.0 - y) * 64.0)

    def _floor(self, x, z):
        k = self.kind
        if k == "studio":
            return np.ones(x.shape + (3,)) * (0.5 + 0.04 * np.sin(x * 3)[..., None]) * [1.0, 0.97, 0.92]
        if k == "brick_room":    # wooden planks
            plank = np.floor(x / 0.18)
            grain = 0.9 + 0.1 * np.sin(z * 40 + plank * 7.0) * np.sin(plank * 3.1)
            return (np.array([0.55, 0.38, 0.24]) * grain[..., None] * (0.9 + 0.1 * (plank % 2))[..., None])
        if k == "garden":
            return sample(texture("grass"), x * 150.0, z * 150.0)
        if k == "gravel_yard":
            return sample(texture("gravel"), x * 200.0, z * 200.0)
        road = (z < -1.8) & (z > -5.6)
        pave = sample(texture("gravel"), x * 250.0, z * 250.0) * 0.9
        asphalt = np.ones_like(pave) * 0.22 + 0.08 * pave
        marks = road & (np.abs(z + 3.7) < 0.06) & ((x % 3.0) < 1.5)
        out = np.where(road[..., None], asphalt, pave)
        out[marks] = 0.9
        return out

    def render(self, cam: Camera, contacts: np.ndarray) -> np.ndarray:
        """(H,W,3) float; contacts: (N,3) points near the floor that cast a soft shadow."""
        w, h = cam.size
        if self.kind.startswith("photo_"):
            img = texture(self.kind[6:])
            s = max(w / img.shape[1], h / img.shape[0])
            vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
            out = sample(img, (uu + 0.5) / s - 0.5, (vv + 0.5) / s - 0.5)
            return ndimage.gaussian_filter(out, (1.5, 1.5, 0))
        o, d = cam.rays()
        t_floor = np.where(d[..., 1] < -1e-6, -o[..., 1] / np.minimum(d[..., 1], -1e-6), np.inf)
        t_wall = np.where(d[..., 2] < -1e-6, (self.wall_z - o[..., 2]) / np.minimum(d[..., 2], -1e-6), np.inf)
        on_floor = t_floor < t_wall
        t = np.where(on_floor, t_floor, t_wall)
        t = np.where(np.isfinite(t), t, 50.0)
        p = o + d * t[..., None]
        out = np.where(on_floor[..., None], self._floor(p[..., 0], p[..., 2]), self._wall(p[..., 0], p[..., 1]))
        if len(contacts):
            from scipy.spatial import cKDTree

            dist, _ = cKDTree(contacts[:, [0, 2]]).query(p[on_floor][:, [0, 2]], distance_upper_bound=1.0)
            shadow = 1.0 - 0.45 * np.exp(-(np.minimum(dist, 1.0) / 0.09) ** 2)
            out[on_floor] *= shadow[:, None]
        light = 0.85 + 0.3 * np.exp(-((p[..., 0] + 1.0) ** 2) / 9.0)     # a broad light from the left
        out = out * light[..., None]
        return ndimage.gaussian_filter(np.clip(out, 0, 1), (0.8, 0.8, 0))


def seat_box(height: float, front_z: float) -> Group:
    """A wooden box to sit on, its front edge under the knees."""
    return Group([rounded_box([0.0, height / 2, front_z - 0.22], (0.26, height / 2, 0.22), 100, rounding=0.015)])


def dog(x: float, z: float, scale: float = 1.0, facing: float = 1.0) -> Group:
    s, f = scale, facing
    g = Group(k=0.03)
    body_c = np.array([x, 0.42 * s, z])
    g.add(ellipsoid(body_c, (0.3 * s, 0.13 * s, 0.12 * s), 101))
    head = body_c + [f * 0.33 * s, 0.16 * s, 0.0]
    g.add(ellipsoid(head, (0.1 * s, 0.09 * s, 0.085 * s), 101),
          ellipsoid(head + [f * 0.1 * s, -0.03 * s, 0], (0.07 * s, 0.045 * s, 0.05 * s), 101),
          round_cone(body_c - [f * 0.28 * s, -0.05 * s, 0], body_c - [f * 0.45 * s, -0.22 * s, 0], 0.03 * s, 0.015 * s, 101))
    for e in (-1, 1):
        g.add(ellipsoid(head + [-f * 0.02 * s, 0.07 * s, e * 0.05 * s], (0.03 * s, 0.06 * s, 0.02 * s), 101))
        for fx in (-0.2, 0.2):
            top = body_c + [fx * s, -0.05 * s, e * 0.07 * s]
            g.add(round_cone(top, [top[0], 0.03 * s, top[2]], 0.04 * s, 0.03 * s, 101))
    return g


def ball(x: float, z: float, radius: float = 0.11) -> Group:
    return Group([ellipsoid([x, radius, z], (radius,) * 3, 102)])


def street_furniture(rng: np.random.Generator) -> list[Group]:
    """Lamp posts and a parked car across the road (scene props, never the person)."""
    out = [Group([round_cone([x, 0.0, -5.9], [x, 4.2, -5.9], 0.07, 0.05, 103),
                  ellipsoid([x + 0.3, 4.2, -5.9], (0.35, 0.08, 0.15), 103)], k=0.05) for x in (-3.5, 3.2)]
    cx = rng.uniform(-2.5, 2.5)
    out.append(Group([rounded_box([cx, 0.55, -4.6], (2.1, 0.35, 0.85), 104, rounding=0.15),
                      rounded_box([cx - 0.2, 1.1, -4.6], (1.2, 0.3, 0.8), 105, rounding=0.2)], k=0.05))
    return out


PROP_COLOURS = {100: (0.55, 0.4, 0.25), 101: (0.72, 0.52, 0.3), 102: (0.9, 0.3, 0.2), 103: (0.2, 0.22, 0.2),
                104: (0.2, 0.35, 0.6), 105: (0.35, 0.45, 0.55)}
