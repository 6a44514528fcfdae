"""A person's body pose as the product writes it: 33 BlazePose landmarks in the photo and in metres.

    views/pose.json    the landmarks (format below), where they came from, the people seen
    views/pose.png     an overlay of the skeleton on the photo, for checking by eye

Landmark order and names are BlazePose's (nose, eyes, ears, mouth, shoulders, elbows, wrists, hand
points, hips, knees, ankles, heels, toes). Coordinates:
- `image`: u, v in photo pixels (u right, v down; pixel centres at .5), visibility and presence in 0..1;
- `world_m`: metres, origin midway between the hips, x to the image's right, y down, z away from the
  camera (smaller is nearer), as MediaPipe estimates them (a metric guess, not a measurement).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

POSE_FORMAT = "synchuman.pose/1"
LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
LANDMARK = {name: i for i, name in enumerate(LANDMARK_NAMES)}
# Each landmark's partner on the other side (the nose is its own).
MIRROR = tuple(LANDMARK[n.replace("left", "#").replace("right", "left").replace("#", "right")] for n in LANDMARK_NAMES)
# Per side (left, right): a hand's landmarks, the wrist first, and a foot's, the ankle first.
HANDS = tuple(tuple(LANDMARK[f"{side}_{p}"] for p in ("wrist", "pinky", "index", "thumb")) for side in ("left", "right"))
FEET = tuple(tuple(LANDMARK[f"{side}_{p}"] for p in ("ankle", "heel", "foot_index")) for side in ("left", "right"))
LIMB_ENDS = HANDS[0] + FEET[0] + HANDS[1] + FEET[1]  # every hand and foot landmark
# Landmarks of the body (no face, no hand points): what "how complete is this person" counts.
BODY_LANDMARKS = tuple(LANDMARK[n] for n in (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"))

# The skeleton drawn in pose.png: (from, to) landmark pairs, by body part.
_CHAINS = {
    "face": (("left_eye_outer", "left_eye", "left_eye_inner", "nose", "right_eye_inner", "right_eye",
              "right_eye_outer"), ("left_eye_outer", "left_ear"), ("right_eye_outer", "right_ear"),
             ("mouth_left", "mouth_right")),
    "torso": (("left_shoulder", "right_shoulder", "right_hip", "left_hip", "left_shoulder"),),
    "left": (("left_shoulder", "left_elbow", "left_wrist", "left_index", "left_pinky", "left_wrist", "left_thumb"),
             ("left_hip", "left_knee", "left_ankle", "left_heel", "left_foot_index", "left_ankle")),
    "right": (("right_shoulder", "right_elbow", "right_wrist", "right_index", "right_pinky", "right_wrist",
               "right_thumb"), ("right_hip", "right_knee", "right_ankle", "right_heel", "right_foot_index",
                                "right_ankle")),
}
_COLOURS = {"face": (255, 255, 255), "torso": (255, 210, 0), "left": (0, 200, 255), "right": (255, 80, 80)}
VISIBLE = 0.5   # a landmark at least this visible is drawn solid and counts as seen


@dataclass
class PersonPose:
    """The 33 landmarks of one person in one photo."""

    image: np.ndarray          # float32 (33, 4): u, v (photo pixels), visibility, presence
    world_m: np.ndarray        # float32 (33, 3): metres about the hips (see the module docstring)
    box: tuple[int, int, int, int]   # the person's box in photo pixels (x0, y0, x1, y1), mask and landmarks

    @property
    def completeness(self) -> float:
        """Fraction of the 12 body landmarks (shoulders to ankles) that are visible in the photo."""
        return float((self.image[list(BODY_LANDMARKS), 2] >= VISIBLE).mean())

    def visible(self, name: str) -> bool:
        return bool(self.image[LANDMARK[name], 2] >= VISIBLE)

    def faces_away(self) -> bool:
        """The landmarks say the camera sees the person's back: their left shoulder and hip show on the
        photo's left."""
        u = self.image[:, 0]
        return bool((u[LANDMARK["left_shoulder"]] - u[LANDMARK["right_shoulder"]])
                    + (u[LANDMARK["left_hip"]] - u[LANDMARK["right_hip"]]) < 0)

    def mirrored(self) -> "PersonPose":
        """The other reading of the same photo: the person facing the other way. A photo shows a body
        and its mirror image in depth alike, so left and right swap and depth changes sign."""
        world = self.world_m[list(MIRROR)].copy()
        world[:, 2] *= -1.0
        return PersonPose(self.image[list(MIRROR)].copy(), world, self.box)

    def to_json(self, **extra) -> dict:
        return {
            "format": POSE_FORMAT,
            "landmark_names": list(LANDMARK_NAMES),
            "image": [[round(float(v), 2) for v in row[:2]] + [round(float(v), 4) for v in row[2:]]
                      for row in self.image],
            "image_columns": ["u_px", "v_px", "visibility", "presence"],
            "world_m": [[round(float(v), 4) for v in row] for row in self.world_m],
            "world_frame": "metres, origin midway between the hips, x image-right, y down, z away from the camera",
            "person_box": [int(v) for v in self.box],
            "completeness": round(self.completeness, 3),
            **extra,
        }

    @classmethod
    def from_json(cls, data: dict) -> "PersonPose":
        if data.get("format") != POSE_FORMAT:
            raise ValueError(f"not a {POSE_FORMAT} file")
        return cls(image=np.asarray(data["image"], np.float32), world_m=np.asarray(data["world_m"], np.float32),
                   box=tuple(int(v) for v in data["person_box"]))


def draw_pose(rgb: np.ndarray, alpha: np.ndarray | None, pose: PersonPose | None, max_side: int = 1024) -> np.ndarray:
    """The photo (background dimmed where `alpha` says so) with the skeleton drawn on it, at most
    `max_side` pixels on its longer side. Landmarks seen with low visibility are drawn hollow."""
    import cv2

    H, W = rgb.shape[:2]
    s = min(1.0, max_side / max(H, W))
    size = (max(1, round(W * s)), max(1, round(H * s)))
    out = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if s < 1 else rgb.copy()
    if alpha is not None:
        a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) if s < 1 else alpha
        a = a.astype(np.float32)[..., None] / 255.0
        out = (out * (0.35 + 0.65 * a)).astype(np.uint8)
    if pose is None:
        return out
    out = np.ascontiguousarray(out)
    thick = max(1, round(0.004 * max(size)))
    pts = pose.image[:, :2] * s
    vis = pose.image[:, 2]
    for part, chains in _CHAINS.items():
        colour = _COLOURS[part]
        for chain in chains:
            for a_name, b_name in zip(chain, chain[1:]):
                i, j = LANDMARK[a_name], LANDMARK[b_name]
                if min(vis[i], vis[j]) < 0.2:
                    continue
                cv2.line(out, _pt(pts[i]), _pt(pts[j]), colour, thick, cv2.LINE_AA)
    for i, (p, v) in enumerate(zip(pts, vis)):
        if v < 0.2:
            continue
        cv2.circle(out, _pt(p), thick + 2, (20, 20, 20), -1 if v >= VISIBLE else thick, cv2.LINE_AA)
        cv2.circle(out, _pt(p), thick + 1, (255, 255, 255), -1 if v >= VISIBLE else 1, cv2.LINE_AA)
    x0, y0, x1, y1 = (np.asarray(pose.box, np.float64) * s).round().astype(int)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) - 0.5)), int(round(float(p[1]) - 0.5))


def write_pose_views(views: Path, rgb: np.ndarray, alpha: np.ndarray | None, pose: PersonPose | None,
                     **facts) -> dict[str, Path]:
    """Writes views/pose.json (always: `detected` false when there is no pose) and views/pose.png."""
    from ..images import write_png
    from ..jobs import write_json

    views = Path(views)
    views.mkdir(parents=True, exist_ok=True)
    data = pose.to_json(detected=True, **facts) if pose is not None else {"format": POSE_FORMAT,
                                                                          "detected": False, **facts}
    write_json(views / "pose.json", data)
    return {"pose": write_png(views / "pose.png", draw_pose(rgb, alpha, pose))}
