"""Materials for the clothed-people benchmark: skin with a painted face, clothes with stripes, prints,
checks and denim grain, hair with strands; Lambert + ambient shading with occlusion from the field.

Patterns are functions of the nominal (posed, unscaled, unrotated) surface position, so they stick to
the person when the camera or the yaw changes.
"""

from __future__ import annotations

import numpy as np

import people_body as pb

LIGHT = np.array([-0.45, 0.65, 0.62]) / np.linalg.norm([-0.45, 0.65, 0.62])

SKINS = ([0.93, 0.76, 0.64], [0.80, 0.60, 0.46], [0.62, 0.44, 0.32], [0.42, 0.29, 0.21])
HAIRS = ([0.10, 0.07, 0.05], [0.30, 0.19, 0.10], [0.55, 0.40, 0.22], [0.05, 0.05, 0.06])
CLOTH = ([0.78, 0.20, 0.18], [0.18, 0.40, 0.72], [0.22, 0.55, 0.32], [0.90, 0.72, 0.22], [0.85, 0.85, 0.82],
         [0.45, 0.25, 0.55], [0.95, 0.55, 0.20], [0.20, 0.22, 0.26], [0.55, 0.42, 0.30], [0.62, 0.70, 0.78])


def outfit(rng: np.random.Generator, sleeves: str = "short", legs: str = "trousers") -> dict:
    """Colours and patterns for one person (garment geometry is chosen separately)."""
    pick = lambda table: np.array(table[rng.integers(len(table))], float)  # noqa: E731
    top, bottom = pick(CLOTH), pick(CLOTH[1:3] + CLOTH[7:9])
    return {"skin": pick(SKINS), "hair": pick(HAIRS), "top": top, "bottom": bottom * 0.8,
            "shoes": pick(([0.12, 0.1, 0.1], [0.9, 0.9, 0.88], [0.35, 0.2, 0.12])),
            "pattern": ("stripes", "print", "plain", "check")[rng.integers(4)], "accent": 1.0 - top * 0.8,
            "sleeves": sleeves, "legs": legs, "stripe": rng.uniform(0.03, 0.06),
            "skirt": pick(CLOTH), "coat": pick(([0.45, 0.32, 0.22], [0.2, 0.2, 0.24], [0.55, 0.5, 0.4],
                                                [0.25, 0.3, 0.22])),
            "trousers": pick(CLOTH[7:] + CLOTH[1:2]), "hood": pick(CLOTH), "backpack": pick(CLOTH),
            "iris": pick(([0.25, 0.15, 0.08], [0.2, 0.35, 0.55], [0.25, 0.4, 0.25]))}


def _grain(p: np.ndarray, freq: float) -> np.ndarray:
    """Cheap deterministic fine noise from the position (cloth weave)."""
    return np.sin(p[:, 0] * freq * 1.7 + np.sin(p[:, 1] * freq)) * np.sin(p[:, 1] * freq * 1.3 + p[:, 2] * freq)


def albedo(labels: np.ndarray, p: np.ndarray, n: np.ndarray, J: dict, o: dict) -> np.ndarray:
    """Colour per surface sample: labels (N,), nominal positions p (N,3), nominal normals n (N,3)."""
    col = np.zeros((len(p), 3))
    is_ = lambda *ls: np.isin(labels, ls)  # noqa: E731
    skin = is_(pb.HEAD, pb.NECK, pb.HAND)
    waist = J["pelvis"][1] + 0.07
    trunk = is_(pb.TORSO, pb.PELVIS)
    top = (trunk & (p[:, 1] > waist)) | is_(pb.UPPER_ARM) & (o["sleeves"] != "none")
    top |= is_(pb.FOREARM) & (o["sleeves"] == "long")
    skin |= is_(pb.UPPER_ARM, pb.FOREARM) & ~top
    bottom = (trunk & (p[:, 1] <= waist)) | is_(pb.THIGH, pb.SHIN)
    if o["legs"] == "bare":
        skin |= is_(pb.THIGH, pb.SHIN) & (p[:, 1] < J["pelvis"][1] - 0.1)
        bottom &= ~skin
    col[skin] = o["skin"]
    col[top] = o["top"]
    col[bottom] = o["bottom"] * (1.0 + 0.07 * _grain(p[bottom], 900.0))[:, None]
    col[is_(pb.FOOT)] = o["shoes"]
    _pattern(col, top, p, J, o)
    for label, key in ((pb.SKIRT, "skirt"), (pb.COAT, "coat"), (pb.TROUSERS, "trousers"), (pb.HOOD, "hood"),
                       (pb.BACKPACK, "backpack"), (pb.STRAP, "backpack")):
        sel = labels == label
        col[sel] = o[key] * (1.0 + 0.05 * _grain(p[sel], 700.0))[:, None]
    sk = labels == pb.SKIRT
    col[sk] *= (0.85 + 0.15 * (np.sin(np.arctan2(p[sk, 0], p[sk, 2]) * 24) > 0))[:, None]   # pleats
    col[labels == pb.STRAP] *= 0.6
    hair = labels == pb.HAIR
    strands = 0.8 + 0.2 * np.sin(p[hair, 0] * 700 + np.sin(p[hair, 1] * 60) * 3)
    col[hair] = o["hair"] * strands[:, None]
    _face(col, labels == pb.HEAD, p, n, J, o)
    return col


def _pattern(col, top, p, J, o) -> None:
    q = p[top]
    if o["pattern"] == "stripes":
        col[top] *= np.where(np.floor(q[:, 1] / o["stripe"]) % 2 == 0, 0.72, 1.0)[:, None]
    elif o["pattern"] == "check":
        chk = (np.floor(q[:, 0] / 0.04) + np.floor(q[:, 1] / 0.04)) % 2
        col[top] *= (0.75 + 0.25 * chk)[:, None]
    elif o["pattern"] == "print":      # a ring and a bar on the chest, not symmetric
        c = J["chest"]
        d = np.hypot(q[:, 0] - 0.01, q[:, 1] - c[1])
        front = q[:, 2] > 0.04
        mark = front & ((np.abs(d - 0.045) < 0.012) | ((np.abs(q[:, 1] - c[1] + 0.07) < 0.01) & (q[:, 0] > -0.02)
                                                         & (q[:, 0] < 0.08)))
        sub = col[top]
        sub[mark] = o["accent"]
        col[top] = sub


def _ellipse(fx, fy, cx, cy, rx, ry) -> np.ndarray:
    return ((fx - cx) / rx) ** 2 + ((fy - cy) / ry) ** 2 < 1.0


def _face(col, head, p, n, J, o) -> None:
    """Eyes, brows, nostrils and lips on the front of the head (head-local coordinates, metres)."""
    q = p[head] - J["head"]
    front = (n[head, 2] > 0.25) & (q[:, 2] > 0.03)
    fx, fy = q[:, 0], q[:, 1]
    c = col[head]
    for s in (-1, 1):
        ex = s * 0.031
        socket = front & _ellipse(fx, fy, ex, 0.006, 0.03, 0.02)
        c[socket] *= 0.9
        eye = front & _ellipse(fx, fy, ex, 0.006, 0.0155, 0.0075)
        c[eye] = [0.94, 0.93, 0.9]
        c[front & _ellipse(fx, fy, ex, 0.006, 0.0068, 0.0068)] = o["iris"]
        c[front & _ellipse(fx, fy, ex, 0.006, 0.003, 0.003)] = [0.03, 0.03, 0.03]
        lid = front & _ellipse(fx, fy, ex, 0.0095, 0.017, 0.004) & ~eye
        c[lid] = c[lid] * 0.45
        c[front & _ellipse(fx, fy, s * 0.034, 0.03, 0.021, 0.0045)] = o["hair"] * 0.8
        c[front & _ellipse(fx, fy, s * 0.008, -0.036, 0.004, 0.0025)] *= 0.45
        c[front & _ellipse(fx, fy, s * 0.045, -0.03, 0.02, 0.014)] *= [1.04, 0.93, 0.93]   # cheeks
    lips = front & _ellipse(fx, fy, 0.0, -0.062, 0.023, 0.0075)
    c[lips] = c[lips] * [0.85, 0.55, 0.55]
    c[front & _ellipse(fx, fy, 0.0, -0.061, 0.022, 0.0014)] *= 0.4
    col[head] = c


def shade(colour: np.ndarray, normals: np.ndarray, ao: np.ndarray) -> np.ndarray:
    """Lambert key light + sky ambient, both attenuated by ambient occlusion; a touch of rim light."""
    lam = np.clip(normals @ LIGHT, 0.0, 1.0)
    sky = 0.5 + 0.5 * normals[:, 1]
    light = (0.30 + 0.14 * sky) * (0.35 + 0.65 * ao) + 0.72 * lam * (0.6 + 0.4 * ao)
    return np.clip(colour * light[:, None], 0.0, 1.0)
