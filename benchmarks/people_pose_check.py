"""Checks the clothed-people cases against a learned detector: MediaPipe BlazePose (mediapipe 0.10.21,
`Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True)`, which works offline).

Per case: whether a pose is found, the IoU of its raw mask (> 0.5) with the true mask, and the mean 2D
error of the 13 joints both know (nose, shoulders, elbows, wrists, hips, knees, ankles) that lie in
the frame, in pixels and as a fraction of the person box's height.

    python benchmarks/people_pose_check.py DIR      # DIR written by clothed_people.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

# our joint name -> BlazePose landmark index (left = the person's left)
LANDMARKS = {"nose": 0, "shoulder_l": 11, "shoulder_r": 12, "elbow_l": 13, "elbow_r": 14, "wrist_l": 15,
             "wrist_r": 16, "hip_l": 23, "hip_r": 24, "knee_l": 25, "knee_r": 26, "ankle_l": 27, "ankle_r": 28}


def check_case(pose, folder: Path) -> dict:
    from PIL import Image

    rgb = np.asarray(Image.open(folder / "photo.png").convert("RGB"))
    truth = np.load(folder / "truth.npz")
    meta = json.loads((folder / "case.json").read_text())
    t = time.perf_counter()
    res = pose.process(rgb)
    seconds = time.perf_counter() - t
    row = {"case": meta["name"], "fraction": meta["person_fraction"], "detected": res.pose_landmarks is not None,
           "iou": float("nan"), "err_px": float("nan"), "err_rel": float("nan"), "seconds": seconds}
    if res.segmentation_mask is not None:
        ours = res.segmentation_mask > 0.5
        gt = truth["mask"]
        row["iou"] = float((ours & gt).sum() / max((ours | gt).sum(), 1))
    if res.pose_landmarks is not None:
        h, w = rgb.shape[:2]
        names = meta["joints"]
        errs = []
        for name, idx in LANDMARKS.items():
            j = names.index(name)
            if not truth["joints_in_frame"][j]:
                continue
            lm = res.pose_landmarks.landmark[idx]
            errs.append(np.hypot(lm.x * w - truth["joints2d"][j, 0], lm.y * h - truth["joints2d"][j, 1]))
        box = truth["box"]
        row["err_px"] = float(np.mean(errs))
        row["err_rel"] = row["err_px"] / max(int(box[3] - box[1]), 1)
    return row


def detection_table(root: Path, names: list[str]) -> list[dict]:
    import mediapipe as mp

    rows = []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
        for name in names:
            rows.append(check_case(pose, root / name))
    print(f"\n{'case':28s} {'frame %':>7s} {'pose':>5s} {'mask IoU':>8s} {'joint err px':>12s} {'err/box h':>9s} {'s':>5s}")
    for r in rows:
        print(f"{r['case']:28s} {100 * r['fraction']:7.1f} {'yes' if r['detected'] else 'NO':>5s} {r['iou']:8.3f} "
              f"{r['err_px']:12.1f} {r['err_rel']:9.3f} {r['seconds']:5.2f}")
    found = [r for r in rows if r["detected"]]
    ious = [r["iou"] for r in rows if not np.isnan(r["iou"])]
    print(f"detected {len(found)}/{len(rows)}; median mask IoU {np.median(ious) if ious else float('nan'):.3f}; "
          f"median joint error {np.median([r['err_rel'] for r in found]) if found else float('nan'):.3f} of the box height")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path)
    args = ap.parse_args()
    names = sorted(p.parent.name for p in args.root.glob("*/case.json"))
    if not names:
        raise SystemExit(f"no cases under {args.root}; write them with clothed_people.py --out {args.root}")
    detection_table(args.root, names)


if __name__ == "__main__":
    main()
