"""How good is the pose step's depth? MediaPipe's metric 3D landmarks (`PersonPose.world_m`) against
the true 3D joints of the clothed people (benchmarks/clothed_people.py), per joint, before and after
the preview's corrections (`engines/preview/landmark_rules.observation`: the upper body moved back over
the hips, the face's depth halved, a standing shin's backward lean taken out).

    .venv/bin/python benchmarks/pose_depth.py [--seed 0 7] [--only CASE ...]

Depth is metres away from the camera. Each landmark's depth is taken relative to the hips' centre;
the shoulders' is also given relative to the shoulders' centre (their twist). The benchmark's camera
looks along the world's -z, level within 4 degrees, so a true depth is -(z - z_hips). Per joint (left
and right pooled) it prints: corr, the correlation of MediaPipe's depth with the truth; err, the mean
absolute error (mm); k, the least-squares scale from MediaPipe's depth to the truth; and "err 0",
the error of saying depth 0 (the joint at the hips' depth), which a useful depth must beat.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# named alike in people_body.JOINTS ("knee_l", the person's left) and MediaPipe ("left_knee")
JOINTS = ("shoulder", "elbow", "wrist", "knee", "ankle")


def depths(case: dict) -> dict[str, list[tuple[float, float, float]]]:
    """Per joint: (true depth, MediaPipe's raw depth, after the preview's corrections), metres."""
    import people_body as pb

    from synchuman.engines.preview.landmark_rules import observation
    from synchuman.foreground import cut_person
    from synchuman.foreground.pose import LANDMARK

    person = cut_person(case["photo"])  # an RGB array is a photo without alpha
    if person.pose is None:
        return {}
    raw = np.asarray(person.pose.world_m, np.float64)
    fixed = observation(person.pose, person.alpha >= 128, None)[0].world_landmarks
    true = dict(zip(pb.JOINTS, np.asarray(case["truth"]["joints3d"], np.float64)))
    true_hips = (true["hip_l"] + true["hip_r"]) / 2
    hips = lambda w: (w[LANDMARK["left_hip"]] + w[LANDMARK["right_hip"]]) / 2  # noqa: E731
    shoulders = lambda w: (w[LANDMARK["left_shoulder"]] + w[LANDMARK["right_shoulder"]]) / 2  # noqa: E731
    true_shoulders = (true["shoulder_l"] + true["shoulder_r"]) / 2
    out: dict[str, list] = {}
    for joint in JOINTS:
        for side, name in (("l", "left"), ("r", "right")):
            t = -(true[f"{joint}_{side}"] - true_hips)[2]
            i = LANDMARK[f"{name}_{joint}"]
            out.setdefault(joint, []).append((t, (raw[i] - hips(raw))[2], (fixed[i] - hips(fixed))[2]))
            if joint == "shoulder":
                out.setdefault("shoulder twist", []).append((-(true[f"shoulder_{side}"] - true_shoulders)[2],
                                                             (raw[i] - shoulders(raw))[2], (fixed[i] - shoulders(fixed))[2]))
    nose = LANDMARK["nose"]
    out["nose"] = [(-(true["nose"] - true_hips)[2], (raw[nose] - hips(raw))[2], (fixed[nose] - hips(fixed))[2])]
    return out


def stats(t: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
    corr = float(np.corrcoef(t, m)[0, 1]) if t.std() > 0 and m.std() > 0 else float("nan")
    k = float((t * m).sum() / max((m * m).sum(), 1e-12))
    return corr, float(np.abs(t - m).mean() * 1000), k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, nargs="+", default=[0, 7])
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()

    import clothed_people as cp

    pooled: dict[str, list] = {}
    for seed in args.seed:
        for spec in [c for c in cp.CASES if not args.only or c[0] in args.only]:
            case = cp.render_case(spec, 1024, seed=1000 * seed + cp.CASES.index(spec) + 1)
            found = depths(case)
            if not found:
                print(f"seed {seed} {spec[0]}: no pose", flush=True)
            for joint, rows in found.items():
                pooled.setdefault(joint, []).extend(rows)
            print(f"seed {seed} {spec[0]}: done", file=sys.stderr, flush=True)
    print(f"\nseeds {args.seed}; depth relative to the hips' centre (the twist: to the shoulders' centre)\n")
    print("| joint | n | true depth rms mm | raw corr | raw err mm | raw k | corrected corr | corrected err mm | corrected k | err 0 mm |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for joint, rows in pooled.items():
        a = np.array(rows)
        t = a[:, 0]
        (rc, re, rk), (cc, ce, ck) = stats(t, a[:, 1]), stats(t, a[:, 2])
        print(f"| {joint} | {len(a)} | {np.sqrt((t ** 2).mean()) * 1000:.0f} | {rc:.2f} | {re:.0f} | {rk:.2f} | "
              f"{cc:.2f} | {ce:.0f} | {ck:.2f} | {np.abs(t).mean() * 1000:.0f} |")


if __name__ == "__main__":
    main()
