"""Garments and hair with their own geometry, built around a skeleton from people_body.

Each garment is a Group of its own, hard-unioned with the body, so it stands off the skin: a flared
skirt, a long open coat (a hollow shell open at the front, with sleeves), wide trousers, short or long
hair, a hood open at the face, a backpack with straps.
"""

from __future__ import annotations

import numpy as np

from people_body import BACKPACK, COAT, HAIR, HOOD, SKIRT, STRAP, TORSO, TROUSERS
from people_shapes import Group, Shape, carve, ellipsoid, flared_tube, rounded_box, round_cone, shell

GARMENTS = ("skirt", "coat", "wide_trousers", "long_hair", "short_hair", "hood", "backpack")


def _hair_cap(J) -> Shape:
    hc = J["head"]
    return ellipsoid(hc + [0.0, 0.014, -0.012], (0.083, 0.108, 0.1), HAIR)


def _face_cut(J, hairline: float = 0.045):
    """Negative in front of the face below the hairline: where hair and hoods leave the face free."""
    hc = J["head"]
    return lambda p: np.maximum(hc[2] + 0.005 - p[:, 2], p[:, 1] - (hc[1] + hairline))


def short_hair(J) -> Group:
    hc = J["head"]
    below_ears = lambda p: p[:, 1] - (hc[1] - 0.035)  # noqa: E731
    cut = _face_cut(J)
    return Group([carve(_hair_cap(J), lambda p: np.minimum(cut(p), below_ears(p)))])


def long_hair(J) -> Group:
    hc = J["head"]
    cut = _face_cut(J, 0.04)
    cap = carve(_hair_cap(J), lambda p: np.minimum(cut(p), p[:, 1] - (hc[1] - 0.03)))
    back = rounded_box(hc + [0.0, -0.15, -0.06], (0.095, 0.19, 0.04), HAIR, rounding=0.035)
    sides = [round_cone(hc + [s * 0.072, 0.0, -0.01], hc + [s * 0.092, -0.25, -0.035], 0.03, 0.022, HAIR)
             for s in (-1, 1)]
    return Group([cap, back, *sides], k=0.03)


def skirt(J, length: float = 0.55, flare: float = 0.34) -> Group:
    top = J["waist"][1] - 0.03
    bottom = max(top - length, 0.25)
    return Group([flared_tube(top, bottom, (0.158, 0.122), (flare, flare * 0.82), SKIRT, centre=(0.0, -0.01)),
                  flared_tube(top + 0.04, top - 0.02, (0.15, 0.115), (0.16, 0.125), SKIRT, centre=(0.0, -0.01))],
                 k=0.0)


def _torso_only(body: Group) -> Shape:
    parts = [s for s in body.shapes if s.label == TORSO]
    g = Group(parts, body.k)
    lo, hi = g.bounds()
    return Shape(g.distance, lo, hi, COAT)


def coat(J, body: Group, hem: float = 0.42) -> Group:
    """A long coat: a shell over the chest and shoulders, a flared hollow skirt to `hem` height,
    sleeves over the arms, all open down the front (the shirt shows through)."""
    front_gap = lambda p: np.maximum(0.02 - p[:, 2],   # noqa: E731  the open front, wider downwards
                                     np.abs(p[:, 0]) - (0.03 + 0.08 * np.clip(1.33 - p[:, 1], 0, 0.6)))
    waist_y = J["waist"][1]
    upper = carve(shell(_torso_only(body), 0.008, 0.018, COAT), front_gap)
    upper = carve(upper, lambda p: waist_y - 0.1 - p[:, 1])          # the lower part takes over below
    lower = carve(flared_tube(waist_y, hem, (0.172, 0.128), (0.26, 0.2), COAT, centre=(0.0, -0.01),
                              solid=False, thickness=0.016), front_gap)
    g = Group([upper, lower], k=0.0)
    for side in "lr":
        sh, el, wr = J["shoulder_" + side], J["elbow_" + side], J["wrist_" + side]
        cuff = wr + (el - wr) * 0.1
        g.add(round_cone(sh, el, 0.075, 0.062, COAT), round_cone(el, cuff, 0.062, 0.052, COAT))
    collar = [round_cone(J["shoulder_" + s] * [0.45, 1, 1] + [0, 0.03, -0.03], J["neck"] + [0, 0.05, -0.055],
                         0.03, 0.03, COAT) for s in "lr"]
    g.add(*collar)
    return g


def wide_trousers(J) -> Group:
    g = Group(k=0.02)
    pel = J["pelvis"]
    g.add(carve(ellipsoid(pel + [0, 0.01, -0.01], (0.188, 0.135, 0.14), TROUSERS),
                lambda p: J["waist"][1] - 0.02 - p[:, 1]))
    for side in "lr":
        hp, kn, an = J["hip_" + side], J["knee_" + side], J["ankle_" + side]
        hem = an + (kn - an) * 0.07
        g.add(round_cone(hp, kn, 0.112, 0.096, TROUSERS), round_cone(kn, hem, 0.096, 0.108, TROUSERS))
    return g


def hood(J) -> Group:
    hc = J["head"]
    head_and_neck = Group([ellipsoid(hc + [0, 0.005, -0.01], (0.086, 0.114, 0.104), HOOD),
                           round_cone(J["neck"] + [0, -0.02, -0.02], hc + [0, -0.05, -0.03], 0.075, 0.07, HOOD)],
                          k=0.03)
    lo, hi = head_and_neck.bounds()
    layer = shell(Shape(head_and_neck.distance, lo, hi, HOOD), 0.004, 0.016, HOOD)
    opening = lambda p: np.maximum(hc[2] - 0.01 - p[:, 2],   # noqa: E731
                                   np.hypot(p[:, 0] / 0.068, (p[:, 1] - hc[1] + 0.015) / 0.1) - 1.0)
    return Group([carve(layer, opening)], k=0.0)


def backpack(J) -> Group:
    ch = J["chest"]
    back_z = ch[2] - 0.118
    g = Group([rounded_box(ch + [0.0, -0.04, back_z - ch[2] - 0.08], (0.145, 0.2, 0.075), BACKPACK, rounding=0.035),
               rounded_box(ch + [0.0, -0.14, back_z - ch[2] - 0.16], (0.1, 0.07, 0.03), BACKPACK, rounding=0.02)],
              k=0.01)
    for s in (-1, 1):
        top = np.array([s * 0.095, J["shoulder_l"][1] + 0.055, -0.03])
        front = np.array([s * 0.1, ch[1] + 0.02, ch[2] + 0.122])
        low = np.array([s * 0.11, ch[1] - 0.16, ch[2] + 0.118])
        g.add(round_cone(top + [0, 0, -0.09], top, 0.013, 0.013, STRAP), round_cone(top, front, 0.013, 0.013, STRAP),
              round_cone(front, low, 0.013, 0.013, STRAP))
    return g


def dress(J, body: Group, garments: tuple[str, ...]) -> list[Group]:
    unknown = set(garments) - set(GARMENTS)
    if unknown:
        raise ValueError(f"unknown garments {sorted(unknown)}; choose from {GARMENTS}")
    out = []
    for name in garments:
        if name == "skirt":
            out.append(skirt(J))
        elif name == "coat":
            out.append(coat(J, body))
        elif name == "wide_trousers":
            out.append(wide_trousers(J))
        elif name == "long_hair":
            out.append(long_hair(J))
        elif name == "short_hair":
            out.append(short_hair(J))
        elif name == "hood":
            out.append(hood(J))
        elif name == "backpack":
            out.append(backpack(J))
    return out
