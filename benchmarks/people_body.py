"""A posable human body of our own (no body model): a skeleton, smooth limbs and a head with a face.

The body is a smooth union (people_shapes.Group) of round cones along the bones, ellipsoids for the
torso, head, jaw, nose, ears, hands and feet. Proportions follow a 7.5-head figure 1.72 m tall; the
figure is built in a nominal frame (metres, y up, facing +Z, person's left at +X) and scaled to the
requested height by the caller. Poses are bone directions, so every pose keeps the bone lengths.
"""

from __future__ import annotations

import numpy as np

from people_shapes import Group, Shape, ellipsoid, frame_from, round_cone

# part labels (people_paint maps them to materials)
HEAD, NECK, TORSO, PELVIS, UPPER_ARM, FOREARM, HAND, THIGH, SHIN, FOOT = range(1, 11)
HAIR, SKIRT, COAT, TROUSERS, HOOD, BACKPACK, STRAP = range(11, 18)
BODY_LABELS = tuple(range(1, 11))
GARMENT_LABELS = tuple(range(11, 18))
LABEL_NAMES = dict(zip(BODY_LABELS + GARMENT_LABELS, ("head", "neck", "torso", "pelvis", "upper_arm", "forearm",
                                                     "hand", "thigh", "shin", "foot", "hair", "skirt", "coat",
                                                     "trousers", "hood", "backpack", "strap")))

POSES = ("standing", "arms_out", "walking", "seated", "kneeling", "crossed_arms", "raised_knee")

# joint names, in the order stored in the ground truth; "nose" is the tip of the nose
JOINTS = ("nose", "head", "neck", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "wrist_l", "wrist_r",
          "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "pelvis")

NOMINAL_HEIGHT = 1.72
UPPER_ARM_LEN, FOREARM_LEN, THIGH_LEN, SHIN_LEN = 0.29, 0.25, 0.43, 0.42


def _unit(*v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _pose_directions(pose: str, s: int) -> dict:
    """Bone directions for the side s (+1 = the person's left, at +X)."""
    arm_down = dict(upper=_unit(0.17 * s, -1, 0), fore=_unit(0.10 * s, -1, 0.10))
    legs = dict(thigh=_unit(0.05 * s, -1, 0), shin=_unit(0.0, -1, 0), foot=_unit(0.12 * s, 0, 1))
    d = {**arm_down, **legs}
    if pose == "arms_out":
        d.update(upper=_unit(s, -0.18, 0.0), fore=_unit(s, 0.02, 0.15), thigh=_unit(0.1 * s, -1, 0))
    elif pose == "walking":
        fwd = s > 0   # the left leg steps forward, the right arm swings forward
        d.update(thigh=_unit(0.03 * s, -1, 0.38) if fwd else _unit(0.03 * s, -1, -0.28),
                 shin=_unit(0, -1, 0.08) if fwd else _unit(0, -1, -0.42),
                 foot=_unit(0.08 * s, 0.12, 1) if fwd else _unit(0.08 * s, -0.45, 1),
                 upper=_unit(0.12 * s, -1, -0.32) if fwd else _unit(0.12 * s, -1, 0.38),
                 fore=_unit(0.1 * s, -1, -0.15) if fwd else _unit(0.05 * s, -0.75, 0.7))
    elif pose == "seated":
        d.update(thigh=_unit(0.12 * s, -0.04, 1), shin=_unit(0.04 * s, -1, 0.06),
                 upper=_unit(0.12 * s, -1, 0.32), fore=_unit(-0.05 * s, -0.35, 1))
    elif pose == "kneeling":
        d.update(thigh=_unit(0.06 * s, -1, 0.05), shin=_unit(0.0, -0.04, -1), foot=_unit(0.0, -0.5, -1),
                 upper=_unit(0.2 * s, -1, 0.05))
    elif pose == "crossed_arms":
        d.update(upper=_unit(0.22 * s, -1, 0.30),
                 fore=_unit(-s, 0.12, 0.30) if s > 0 else _unit(-s, 0.05, 0.12))
    elif pose == "raised_knee" and s > 0:
        d.update(thigh=_unit(0.06, 0.02, 1), shin=_unit(0.0, -1, 0.08), foot=_unit(0.05, -0.3, 1),
                 upper=_unit(0.45, -1, 0.05))
    elif pose == "raised_knee":
        d.update(upper=_unit(-0.45, -1, 0.05))
    return d


def skeleton(pose: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint positions (nominal frame, before the feet are put on the floor) and proportions."""
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}")
    j = lambda s=0.03: 1.0 + rng.uniform(-s, s)  # noqa: E731  proportion jitter
    J: dict[str, np.ndarray] = {}
    J["pelvis"] = np.array([0.0, 0.97, 0.0])
    J["waist"] = np.array([0.0, 1.10, -0.01])
    J["chest"] = np.array([0.0, 1.27, 0.0])
    J["neck"] = np.array([0.0, 1.45, -0.02])
    J["head"] = np.array([0.0, 1.595, 0.008])
    J["nose"] = J["head"] + [0.0, -0.02, 0.1]
    sw = 0.188 * j()
    ua, fa, th, sh = UPPER_ARM_LEN * j(), FOREARM_LEN * j(), THIGH_LEN * j(0.02), SHIN_LEN * j(0.02)
    for s, side in ((1, "l"), (-1, "r")):
        d = _pose_directions(pose, s)
        J["shoulder_" + side] = np.array([s * sw, 1.405, -0.02])
        J["elbow_" + side] = J["shoulder_" + side] + d["upper"] * ua
        J["wrist_" + side] = J["elbow_" + side] + d["fore"] * fa
        J["hand_dir_" + side] = d["fore"]
        J["hip_" + side] = np.array([s * 0.088, 0.925, 0.0])
        J["knee_" + side] = J["hip_" + side] + d["thigh"] * th
        J["ankle_" + side] = J["knee_" + side] + d["shin"] * sh
        J["foot_dir_" + side] = d["foot"]
    return J


def _hand(J, side: str, s: int) -> list[Shape]:
    wrist, f = J["wrist_" + side], J["hand_dir_" + side]
    up = (s, 0.0, 0.0) if abs(f[0]) < 0.7 else (0.0, 1.0, 0.0)
    R = frame_from(f, up)
    side_ax, thick_ax = R[:, 0], R[:, 1]
    palm_c = wrist + f * 0.055
    out = [ellipsoid(palm_c, (0.041, 0.017, 0.055), HAND, R)]
    for off, length in zip((-0.027, -0.009, 0.009, 0.027), (0.068, 0.078, 0.074, 0.06)):   # fingers
        base = palm_c + f * 0.045 + side_ax * off
        out.append(round_cone(base, base + f * length, 0.0095, 0.008, HAND))
    thumb_side = -side_ax * s   # towards the front for hanging arms
    thumb0 = palm_c - f * 0.02 + thumb_side * 0.035 + thick_ax * 0.01
    out.append(round_cone(thumb0, thumb0 + _unit(*(f * 0.8 + thumb_side * 0.45 + thick_ax * 0.3)) * 0.06,
                          0.012, 0.009, HAND))
    return out


def _foot(J, side: str) -> list[Shape]:
    ankle, f = J["ankle_" + side], J["foot_dir_" + side]
    R = frame_from(f, (0.0, 1.0, 0.0) if abs(f[1]) < 0.9 else (0.0, 0.0, 1.0))
    down = -R[:, 1]
    return [ellipsoid(ankle + f * 0.075 + down * 0.045, (0.046, 0.034, 0.128), FOOT, R),
            ellipsoid(ankle + down * 0.03 - f * 0.01, (0.04, 0.045, 0.05), FOOT, R)]


def body_group(J: dict, female: bool, build: float) -> Group:
    """The bare body: build ~ 0.9 (slim) .. 1.15 (heavy) widens the trunk and limbs."""
    b = build
    g = Group(k=0.03)
    pel, wst, ch = J["pelvis"], J["waist"], J["chest"]
    hip_w = 1.06 if female else 1.0
    g.add(ellipsoid(pel, (0.16 * b * hip_w, 0.11, 0.112 * b), PELVIS),
          ellipsoid(wst, (0.13 * b * (0.93 if female else 1.0), 0.12, 0.095 * b), TORSO),
          ellipsoid(ch + [0, 0.01, 0], (0.148 * b * (0.93 if female else 1.0), 0.15, 0.1 * b), TORSO),
          round_cone(J["shoulder_r"] + [0.035, 0.0, 0], J["shoulder_l"] - [0.035, 0.0, 0], 0.055, 0.055, TORSO))
    for s in (-1, 1):
        g.add(ellipsoid(pel + [s * 0.068, -0.045, -0.055], (0.082 * b, 0.09, 0.075 * b), PELVIS))
        if female:
            g.add(ellipsoid(ch + [s * 0.058, -0.025, 0.072 * b], (0.056, 0.05, 0.045), TORSO))
    # neck, head, face relief
    hc = J["head"]
    g.add(round_cone(J["neck"], hc + [0.0, -0.06, -0.015], 0.054, 0.05, NECK))
    g.add(ellipsoid(hc, (0.074, 0.1, 0.09), HEAD),
          ellipsoid(hc + [0.0, -0.052, 0.022], (0.058, 0.058, 0.068), HEAD),
          ellipsoid(hc + [0.0, -0.012, 0.084], (0.011, 0.023, 0.017), HEAD, frame_from((0, -0.35, 1))))
    for s in (-1, 1):
        g.add(ellipsoid(hc + [s * 0.073, -0.008, -0.004], (0.011, 0.027, 0.018), HEAD),
              ellipsoid(hc + [s * 0.03, 0.033, 0.072], (0.026, 0.011, 0.012), HEAD))   # brow ridge
    # limbs
    for s, side in ((1, "l"), (-1, "r")):
        sh, el, wr = J["shoulder_" + side], J["elbow_" + side], J["wrist_" + side]
        g.add(ellipsoid(sh + [-0.005 * s, -0.025, 0.0], (0.056 * b, 0.066, 0.056 * b), UPPER_ARM),
              round_cone(sh, el, 0.05 * b, 0.038 * b, UPPER_ARM),
              round_cone(el, wr, 0.037 * b, 0.026, FOREARM), *_hand(J, side, s))
        hp, kn, an = J["hip_" + side], J["knee_" + side], J["ankle_" + side]
        g.add(round_cone(hp, kn, 0.088 * b * hip_w, 0.056 * b, THIGH),
              round_cone(kn, an, 0.054 * b, 0.036, SHIN),
              ellipsoid(kn + (an - kn) * 0.28 - [0, 0, 0.02], (0.045 * b, 0.09, 0.045 * b), SHIN), *_foot(J, side))
    return g
