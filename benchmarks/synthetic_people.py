"""Synthetic people with known ground truth, for the preview engine's benchmarks and tests.

A person is a union of axis-aligned ellipsoids (spheres swept densely along limbs, stacked
elliptical slices for the torso) in metres, y up, facing +Z, feet on y = 0 — the GLB frame.
`render_photo` ray-casts that union with an orthographic camera looking along -Z (analytic
ray/ellipsoid hits, 2x2 supersampling), shades it (Lambert + ambient), paints clothes, a striped
shirt with a chest print, a face (eyes, brows, mouth) and hair, and composites it on a plain or a
textured background. It returns the photo, the exact coverage mask, a straight alpha for a cut-out,
and points sampled on the ground-truth surface for Chamfer distances.

    python benchmarks/synthetic_people.py --example   # writes the bundled example photo(s)

Everything is deterministic for a given seed (numpy's PCG64). For harder cases (a body of our own
with garments that have their own geometry, varied poses, textured scenes, distractors) see
clothed_people.py.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "backend" / "synchuman" / "data" / "examples"

POSES = ("standing", "arms_out", "seated", "walking")

# part ids (index into the palette)
SKIN, HAIR, SHIRT, PANTS, SHOES, SLEEVE = range(6)


@dataclass
class Body:
    """A union of axis-aligned ellipsoids: centres (N,3), radii (N,3), part id per ellipsoid."""

    centres: np.ndarray
    radii: np.ndarray
    parts: np.ndarray
    palette: np.ndarray            # (6,3) float RGB in 0..1
    pose: str
    head_centre: np.ndarray        # for painting the face
    head_radii: np.ndarray
    chest: tuple[float, float, float]   # (x, y, half-size) of the print on the shirt
    print_colour: np.ndarray
    stripe_period: float
    seed: int = 0

    @property
    def height(self) -> float:
        return float((self.centres[:, 1] + self.radii[:, 1]).max() - (self.centres[:, 1] - self.radii[:, 1]).min())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.centres - self.radii).min(0), (self.centres + self.radii).max(0)


class _Builder:
    def __init__(self) -> None:
        self.c: list[np.ndarray] = []
        self.r: list[np.ndarray] = []
        self.p: list[int] = []

    def blob(self, centre, radii, part) -> None:
        self.c.append(np.asarray(centre, float))
        self.r.append(np.broadcast_to(np.asarray(radii, float), (3,)).copy())
        self.p.append(part)

    def limb(self, a, b, ra, rb, part, spacing=0.2) -> None:
        """Spheres swept from a (radius ra) to b (radius rb), dense enough to look like a tapered capsule."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        n = max(2, int(np.ceil(np.linalg.norm(b - a) / (spacing * min(ra, rb)))) + 1)
        for t in np.linspace(0.0, 1.0, n):
            self.blob(a + t * (b - a), ra + t * (rb - ra), part)

    def trunk(self, profile, depth_ratio, part_of_y) -> None:
        """Stacked ellipsoid slices; profile: [(y, half_width)], depth = depth_ratio * width."""
        ys = np.array([p[0] for p in profile])
        ws = np.array([p[1] for p in profile])
        for y in np.arange(ys[0], ys[-1] + 1e-9, 0.012):
            w = float(np.interp(y, ys, ws))
            self.blob((0.0, y, 0.0), (w, 0.05, w * depth_ratio), part_of_y(y))

    def done(self):
        return np.array(self.c), np.array(self.r), np.array(self.p, dtype=np.int32)


def _rot_down(angle_deg: float, length: float) -> np.ndarray:
    """A vector of `length` pointing down, rotated outward (towards +x) by angle in the image plane."""
    a = np.radians(angle_deg)
    return np.array([np.sin(a), -np.cos(a), 0.0]) * length


def make_person(pose: str = "standing", seed: int = 0, height: float = 1.75) -> Body:
    """A posed figure. Poses: standing (arms slightly out), arms_out (T-pose), seated (thighs towards
    the camera), walking (legs apart, one arm forward)."""
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}")
    rng = np.random.default_rng(seed)
    j = lambda s=0.02: 1.0 + rng.uniform(-s, s)  # noqa: E731  proportions jitter
    b = _Builder()
    seated = pose == "seated"
    # heights on a 1.75 m figure; scaled at the end
    hip_y = 0.50 if seated else 0.93
    pelvis_y = hip_y + 0.02
    chest_y = pelvis_y + 0.47
    shoulder_y = chest_y + 0.02
    sw = 0.185 * j()          # shoulder half-width
    # torso: hips -> waist -> chest -> shoulders (sleeves and shirt over the top, pants below the waist)
    waist_y = pelvis_y + 0.16
    profile = [(pelvis_y - 0.06, 0.155 * j()), (pelvis_y + 0.05, 0.165 * j()), (waist_y, 0.14 * j()),
               (chest_y - 0.12, 0.165 * j()), (chest_y, 0.175 * j()), (shoulder_y + 0.03, 0.12)]
    b.trunk(profile, 0.62, lambda y: PANTS if y < waist_y - 0.02 else SHIRT)
    # shoulders and neck
    for s in (-1, 1):
        b.blob((s * (sw - 0.03), shoulder_y - 0.01, -0.005), (0.065, 0.06, 0.06), SHIRT)
    neck_base = shoulder_y + 0.02
    b.limb((0, neck_base, -0.01), (0, neck_base + 0.09, 0.0), 0.055, 0.05, SKIN)
    # head and hair
    hc = np.array([0.0, neck_base + 0.18, 0.01])
    hr = np.array([0.076, 0.112, 0.095]) * j(0.03)
    b.blob(hc, hr, SKIN)
    b.blob(hc + [0.0, 0.028, -0.018], hr * [1.09, 0.96, 1.02], HAIR)
    # arms
    upper, fore = 0.30 * j(), 0.26 * j()
    for s in (-1, 1):
        sh = np.array([s * sw, shoulder_y - 0.03, -0.01])
        if pose == "arms_out":
            ang_u, ang_f = 85 + rng.uniform(-5, 5), 88 + rng.uniform(-5, 5)
        elif pose == "walking" and s > 0:
            ang_u, ang_f = 10, 15
        else:
            ang_u, ang_f = 14 + rng.uniform(-3, 3), 8 + rng.uniform(-3, 3)
        du = _rot_down(ang_u, upper) * [s, 1, 1]
        df = _rot_down(ang_f, fore) * [s, 1, 1]
        if pose == "walking" and s > 0:   # this arm swings forward, towards the camera
            du = np.array([s * 0.04, -upper * 0.92, upper * 0.38])
            df = np.array([s * 0.03, -fore * 0.75, fore * 0.65])
        if seated:                          # forearms resting forward on the thighs
            du = np.array([s * 0.05, -upper * 0.97, upper * 0.2])
            df = np.array([s * 0.0, -fore * 0.25, fore * 0.95])
        el = sh + du
        wr = el + df
        b.limb(sh, el, 0.048, 0.04, SLEEVE if pose != "arms_out" else SHIRT)
        b.limb(el, wr, 0.037, 0.029, SKIN)
        hand_dir = df / np.linalg.norm(df)
        b.blob(wr + hand_dir * 0.06, (0.038, 0.05, 0.024) if abs(hand_dir[1]) > 0.6 else (0.05, 0.035, 0.024)
               if abs(hand_dir[0]) > 0.6 else (0.038, 0.03, 0.05), SKIN)
    # legs
    for s in (-1, 1):
        hip = np.array([s * 0.09, hip_y, 0.0])
        if seated:
            knee = hip + [s * 0.02, 0.0, 0.44 * j()]
            ankle = knee + [0.0, -0.42 * j(), 0.03]
        elif pose == "walking":
            knee = hip + [s * 0.02, -0.42, 0.10 * s]
            ankle = knee + [0.0, -0.41, -0.04 * s if s > 0 else 0.08]
            ankle[1] = 0.085
        else:
            spread = 0.035 if pose == "standing" else 0.06
            knee = hip + [s * spread * 0.6, -0.42 * j(), 0.0]
            ankle = knee + [s * spread * 0.4, 0.0, 0.0]
            ankle[1] = 0.085
        b.limb(hip, knee, 0.08, 0.055, PANTS)
        b.limb(knee, ankle, 0.053, 0.04, PANTS)
        b.blob(ankle + [0.0, -0.045, 0.05], (0.045, 0.042, 0.11), SHOES)
    c, r, p = b.done()
    # feet on 0, scale to the requested height
    lo = (c[:, 1] - r[:, 1]).min()
    c[:, 1] -= lo
    top = (c[:, 1] + r[:, 1]).max()
    k = height / top
    c, r = c * k, r * k
    hc = (hc - [0, lo, 0]) * k
    hr = hr * k
    palette = np.array([
        [0.87, 0.68, 0.55] * np.array([j(0.15)] * 3),   # skin
        rng.choice([[0.16, 0.10, 0.06], [0.35, 0.22, 0.10], [0.08, 0.07, 0.07], [0.55, 0.38, 0.18]]),  # hair
        rng.choice([[0.80, 0.22, 0.20], [0.20, 0.45, 0.75], [0.25, 0.62, 0.35], [0.92, 0.75, 0.25]]),  # shirt
        rng.choice([[0.18, 0.22, 0.38], [0.30, 0.28, 0.25], [0.12, 0.12, 0.14]]),  # pants
        rng.choice([[0.95, 0.95, 0.95], [0.25, 0.16, 0.10], [0.10, 0.10, 0.10]]),  # shoes
        [0, 0, 0],
    ], dtype=float)
    palette[SLEEVE] = palette[SHIRT]
    chest = (0.0, (chest_y - 0.08 - lo) * k, 0.06 * k)
    print_colour = np.clip(1.0 - palette[SHIRT] * 0.8, 0, 1)
    return Body(c, r, p, palette, pose, hc, hr, chest, print_colour, stripe_period=0.05 * k, seed=seed)


@dataclass
class SyntheticPhoto:
    rgb: np.ndarray                 # (H,W,3) uint8
    alpha: np.ndarray               # (H,W) uint8 coverage (straight alpha for a cut-out)
    mask: np.ndarray                # (H,W) bool: coverage >= 0.5
    body: Body
    px_per_m: float                 # image pixels per metre
    origin: tuple[float, float]     # image (u, v) of world (0, 0)
    extras: dict = field(default_factory=dict)

    @property
    def rgba(self) -> np.ndarray:
        return np.dstack([self.rgb, self.alpha])

    def world_to_image(self, xy: np.ndarray) -> np.ndarray:
        return np.stack([self.origin[0] + xy[:, 0] * self.px_per_m, self.origin[1] - xy[:, 1] * self.px_per_m], 1)


def _front_hits(body: Body, width: int, height: int, px_per_m: float, origin, ss: int):
    """Z-buffer of the ellipsoid union seen from +Z: depth, part, normal, hit point per sub-pixel."""
    H, W = height * ss, width * ss
    depth = np.full((H, W), -np.inf, np.float32)
    idx = np.full((H, W), -1, np.int32)
    scale = px_per_m * ss
    ox, oy = origin[0] * ss, origin[1] * ss
    for i, (c, r) in enumerate(zip(body.centres, body.radii)):
        u0 = int(np.floor(ox + (c[0] - r[0]) * scale)); u1 = int(np.ceil(ox + (c[0] + r[0]) * scale))
        v0 = int(np.floor(oy - (c[1] + r[1]) * scale)); v1 = int(np.ceil(oy - (c[1] - r[1]) * scale))
        u0, v0 = max(u0, 0), max(v0, 0)
        u1, v1 = min(u1, W), min(v1, H)
        if u0 >= u1 or v0 >= v1:
            continue
        x = ((np.arange(u0, u1) + 0.5) - ox) / scale
        y = (oy - (np.arange(v0, v1) + 0.5)) / scale
        q = 1.0 - ((x[None, :] - c[0]) / r[0]) ** 2 - ((y[:, None] - c[1]) / r[1]) ** 2
        inside = q > 0
        z = np.where(inside, c[2] + r[2] * np.sqrt(np.maximum(q, 0)), -np.inf).astype(np.float32)
        win = z > depth[v0:v1, u0:u1]
        depth[v0:v1, u0:u1][win] = z[win]
        idx[v0:v1, u0:u1][win] = i
    hit = idx >= 0
    n = np.zeros((H, W, 3), np.float32)
    vv, uu = np.nonzero(hit)
    k = idx[hit]
    px = ((uu + 0.5) - ox) / scale
    py = (oy - (vv + 0.5)) / scale
    pz = depth[hit]
    c, r = body.centres[k], body.radii[k]
    g = np.stack([(px - c[:, 0]) / r[:, 0] ** 2, (py - c[:, 1]) / r[:, 1] ** 2, (pz - c[:, 2]) / r[:, 2] ** 2], 1)
    g /= np.linalg.norm(g, axis=1, keepdims=True) + 1e-12
    n[hit] = g
    return hit, idx, n, depth, (px, py, pz, vv, uu)


def _paint(body: Body, hit, idx, n, pts) -> np.ndarray:
    """Albedo per sub-pixel: clothes, stripes, chest print, face, hair; then Lambert shading."""
    px, py, pz, vv, uu = pts
    part = body.parts[idx[hit]]
    albedo = body.palette[part].astype(np.float32)
    # stripes on the shirt
    shirt = part == SHIRT
    stripe = (np.floor(py / body.stripe_period) % 2 == 0) & shirt
    albedo[stripe] *= 0.82
    # a print on the chest front (a ring and a bar, not symmetric)
    cx, cy, hs = body.chest
    d = np.hypot(px - cx - 0.01, py - cy)
    ring = shirt & (np.abs(d - hs * 0.6) < hs * 0.18)
    bar = shirt & (np.abs(py - cy + hs * 0.05) < hs * 0.12) & (px > cx - hs * 0.1) & (px < cx + hs)
    albedo[ring | bar] = body.print_colour
    # face: only on the skin of the head, front-facing
    hc, hr = body.head_centre, body.head_radii
    on_head = (part == SKIN) & (np.abs(py - hc[1]) < hr[1]) & (np.abs(px - hc[0]) < hr[0]) & (n[hit][:, 2] > 0.3)
    fx, fy = (px - hc[0]) / hr[0], (py - hc[1]) / hr[1]
    for s in (-1, 1):
        ex, ey = s * 0.40, 0.12
        eye = on_head & (((fx - ex) / 0.22) ** 2 + ((fy - ey) / 0.085) ** 2 < 1)
        albedo[eye] = [0.95, 0.95, 0.93]
        iris = on_head & (((fx - ex) / 0.09) ** 2 + ((fy - ey) / 0.08) ** 2 < 1)
        albedo[iris] = [0.20, 0.13, 0.08]
        brow = on_head & (((fx - ex) / 0.26) ** 2 + ((fy - 0.29) / 0.04) ** 2 < 1)
        albedo[brow] = body.palette[HAIR]
    nose = on_head & ((fx / 0.1) ** 2 + ((fy + 0.15) / 0.06) ** 2 < 1)
    albedo[nose] *= 0.85
    mouth = on_head & ((fx / 0.32) ** 2 + ((fy + 0.42) / 0.06) ** 2 < 1)
    albedo[mouth] = [0.70, 0.30, 0.30]
    # hair strands: darker streaks
    hair = part == HAIR
    albedo[hair] *= (0.85 + 0.15 * np.sin(px[hair] * 900.0))[:, None]
    light = np.array([-0.35, 0.55, 0.75]); light /= np.linalg.norm(light)
    lam = np.clip(n[hit] @ light, 0, 1)
    shade = 0.42 + 0.62 * lam
    return np.clip(albedo * shade[:, None], 0, 1)


def _background(kind: str, width: int, height: int, rng) -> np.ndarray:
    v = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    u = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    if kind == "plain":
        top, bottom = np.array([0.86, 0.87, 0.89]), np.array([0.74, 0.75, 0.77])
        return (top * (1 - v) + bottom * v + 0.02 * (u - 0.5)).astype(np.float32) * np.ones((1, width, 1), np.float32)
    if kind == "textured":
        # a room: wallpaper with a diamond pattern and smooth blotches above a wooden floor
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        p = max(width, height) / 18.0
        diamond = ((np.abs(((xx + yy) / p) % 2 - 1) + np.abs(((xx - yy) / p) % 2 - 1)) < 0.5)
        wall = np.array([0.62, 0.70, 0.64]) + 0.08 * diamond[..., None] * np.array([1.0, 0.6, 0.2])
        blot = np.zeros((height, width), np.float32)
        for _ in range(12):
            cx, cy, s = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.2) * width
            blot += rng.uniform(-0.08, 0.08) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        wall = wall + blot[..., None]
        floor_y = 0.86 * height
        plank = np.floor(xx / (width / 7.0)) % 2
        floor = np.array([0.55, 0.42, 0.30]) * (0.9 + 0.1 * plank[..., None]) * (0.95 + 0.05 * np.sin(xx / 3.0)[..., None])
        img = np.where((yy < floor_y)[..., None], wall, floor)
        # a picture frame in the top-left corner and a door frame along the right edge (both cut by
        # the image border, as in a real room)
        img[0:int(0.08 * height), int(0.04 * width):int(0.30 * width)] = [0.35, 0.25, 0.45]
        img[int(0.05 * height):int(0.86 * height), width - max(2, int(0.04 * width)):] = [0.40, 0.30, 0.22]
        return img.astype(np.float32)
    raise ValueError(f"unknown background {kind!r}")


def render_photo(body: Body, width: int = 1024, height: int = 1024, *, background: str = "plain",
                 fill: float = 0.86, seed: int | None = None, ss: int = 2, noise: float = 0.01,
                 offset: tuple[float, float] = (0.0, 0.0)) -> SyntheticPhoto:
    """Renders `body` orthographically from the front so its bounding box fills `fill` of the frame
    (in the tighter direction), centred (plus `offset` as a fraction of the frame)."""
    rng = np.random.default_rng(body.seed if seed is None else seed)
    lo, hi = body.bounds()
    px_per_m = fill * min(height / (hi[1] - lo[1]), width / (hi[0] - lo[0]))
    cx, cy = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
    origin = (width / 2 - cx * px_per_m + offset[0] * width, height / 2 + cy * px_per_m + offset[1] * height)
    hit, idx, n, depth, pts = _front_hits(body, width, height, px_per_m, origin, ss)
    colour = np.zeros(hit.shape + (3,), np.float32)
    colour[hit] = _paint(body, hit, idx, n, pts)
    # box-filter the supersamples
    cov = hit.reshape(height, ss, width, ss).mean(axis=(1, 3)).astype(np.float32)
    fg = colour.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))   # premultiplied
    bg = _background(background, width, height, rng)
    img = fg + bg * (1 - cov[..., None])
    if noise:
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    rgb = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    straight = np.where(cov[..., None] > 0, fg / np.maximum(cov[..., None], 1e-6), 0)
    if noise:
        straight = straight + rng.normal(0, noise, straight.shape)
    fg_rgb = np.clip(straight * 255 + 0.5, 0, 255).astype(np.uint8)
    alpha = np.clip(cov * 255 + 0.5, 0, 255).astype(np.uint8)
    return SyntheticPhoto(rgb=rgb, alpha=alpha, mask=cov >= 0.5, body=body, px_per_m=px_per_m, origin=origin,
                          extras={"cutout_rgb": fg_rgb, "background": background})


def surface_points(body: Body, count: int = 60_000, seed: int = 0) -> np.ndarray:
    """Points on the ground-truth surface (the union's boundary), roughly uniform by area."""
    rng = np.random.default_rng(seed)
    c, r = body.centres, body.radii
    # ellipsoid areas (Knud Thomsen's approximation)
    p = 1.6075
    a, b, cc = r[:, 0] ** p, r[:, 1] ** p, r[:, 2] ** p
    area = 4 * np.pi * ((a * b + a * cc + b * cc) / 3) ** (1 / p)
    n_each = rng.multinomial(count * 4, area / area.sum())
    owner = np.repeat(np.arange(len(c)), n_each)
    d = rng.normal(size=(len(owner), 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = c[owner] + d * r[owner]
    keep = np.ones(len(pts), bool)
    reach = r.max(1)
    for i in range(len(c)):
        near = np.nonzero(np.linalg.norm(c - c[i], axis=1) < reach + reach[i])[0]
        sel = np.nonzero(owner == i)[0]
        if len(sel) == 0:
            continue
        q = pts[sel]
        for k in near:
            if k == i:
                continue
            inside = (((q - c[k]) / r[k]) ** 2).sum(1) < 1.0 - 1e-9
            keep[sel[inside]] = False
    pts = pts[keep]
    if len(pts) > count:
        pts = pts[rng.choice(len(pts), count, replace=False)]
    return pts


def no_person_photo(kind: str = "textured", width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A photo with nobody in it (RGB uint8): an empty room, or a plain wall."""
    rng = np.random.default_rng(seed)
    img = _background(kind, width, height, rng) + rng.normal(0, 0.01, (height, width, 3))
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def write_examples(folder: Path = EXAMPLES) -> list[Path]:
    """The bundled example: an RGB photo on a plain background (exercises the foreground step) and
    its RGBA cut-out."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    body = make_person("standing", seed=3)
    photo = render_photo(body, 640, 960, background="plain", fill=0.88, noise=0.004)
    out = [folder / "person.png", folder / "person_cutout.png"]
    Image.fromarray(photo.rgb).save(out[0], optimize=True)
    cut = np.dstack([photo.extras["cutout_rgb"], photo.alpha])
    cut[photo.alpha == 0, :3] = 0
    Image.fromarray(cut, "RGBA").save(out[1], optimize=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--example", action="store_true", help="write the bundled example photos")
    ap.add_argument("--pose", choices=POSES, default="standing")
    ap.add_argument("--background", choices=("plain", "textured"), default="plain")
    ap.add_argument("--size", type=int, nargs=2, default=(1024, 1024), metavar=("W", "H"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, default=Path("synthetic.png"))
    args = ap.parse_args()
    if args.example:
        for p in write_examples():
            print(f"{p} ({p.stat().st_size / 1024:.0f} KiB)")
        return
    from PIL import Image

    photo = render_photo(make_person(args.pose, args.seed), *args.size, background=args.background)
    Image.fromarray(photo.rgb).save(args.output)
    print(args.output)


if __name__ == "__main__":
    main()
