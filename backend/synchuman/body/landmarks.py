"""MediaPipe BlazePose's 33 landmarks on the body model, for fitting.

Each landmark is taken from one of three sources on the posed body:
- `keypoint`: anny's anatomical keypoints, regressed from the surface with weights made for the
  COCO annotation convention that BlazePose's landmarks also follow (nose, eyes, ears, shoulders,
  elbows, wrists, hips, knees, ankles, heels, big toes);
- `bone`: a bone's head (the joint it turns about), for the hand landmarks, which BlazePose puts on
  the knuckles and the thumb's middle joint;
- `vertex`: one mesh vertex, for the eye and mouth corners (found as the extremes of the eye and
  mouth cavities of the template mesh).
Rows follow the pose step's order (`foreground.pose.LANDMARK_NAMES`).
"Left" is the person's left in both conventions (anny's `.L` side, at +x in the model frame).

`weight` says how well the two definitions agree (1: the same anatomical point; lower where
BlazePose's point is only near ours); the fit multiplies it by the detector's visibility.
"""

from __future__ import annotations

import numpy as np
import torch

from ..foreground.pose import LANDMARK  # the pose step's landmark order and names

# (MediaPipe index, MediaPipe name, source, name or vertex index on the body, weight)
BLAZEPOSE_LANDMARKS = (
    (0, "nose", "keypoint", "nose", 1.0),
    (1, "left_eye_inner", "vertex", 7883, 0.5),
    (2, "left_eye", "keypoint", "left_eye", 1.0),
    (3, "left_eye_outer", "vertex", 7843, 0.5),
    (4, "right_eye_inner", "vertex", 1207, 0.5),
    (5, "right_eye", "keypoint", "right_eye", 1.0),
    (6, "right_eye_outer", "vertex", 1167, 0.5),
    (7, "left_ear", "keypoint", "left_ear", 1.0),
    (8, "right_ear", "keypoint", "right_ear", 1.0),
    (9, "mouth_left", "vertex", 7361, 0.5),
    (10, "mouth_right", "vertex", 646, 0.5),
    (11, "left_shoulder", "keypoint", "left_shoulder", 1.0),
    (12, "right_shoulder", "keypoint", "right_shoulder", 1.0),
    (13, "left_elbow", "keypoint", "left_elbow", 1.0),
    (14, "right_elbow", "keypoint", "right_elbow", 1.0),
    (15, "left_wrist", "keypoint", "left_wrist", 1.0),
    (16, "right_wrist", "keypoint", "right_wrist", 1.0),
    (17, "left_pinky", "bone", "finger5-1.L", 0.5),
    (18, "right_pinky", "bone", "finger5-1.R", 0.5),
    (19, "left_index", "bone", "finger2-1.L", 0.5),
    (20, "right_index", "bone", "finger2-1.R", 0.5),
    (21, "left_thumb", "bone", "finger1-2.L", 0.5),
    (22, "right_thumb", "bone", "finger1-2.R", 0.5),
    (23, "left_hip", "keypoint", "left_hip", 0.8),  # BlazePose's hips sit a little higher and wider
    (24, "right_hip", "keypoint", "right_hip", 0.8),
    (25, "left_knee", "keypoint", "left_knee", 1.0),
    (26, "right_knee", "keypoint", "right_knee", 1.0),
    (27, "left_ankle", "keypoint", "left_ankle", 1.0),
    (28, "right_ankle", "keypoint", "right_ankle", 1.0),
    (29, "left_heel", "keypoint", "left_heel", 1.0),
    (30, "right_heel", "keypoint", "right_heel", 1.0),
    (31, "left_foot_index", "keypoint", "left_big_toe", 0.8),
    (32, "right_foot_index", "keypoint", "right_big_toe", 0.8),
)
LEFT_HIP, RIGHT_HIP = LANDMARK["left_hip"], LANDMARK["right_hip"]


class LandmarkRegressor:
    """The 33 landmarks of a posed body as one (33, V) weight matrix on its vertices plus bone heads.

    Only the vertices some landmark uses are kept (`vertex_ids`), so a fit can pose just those:
    a keypoint keeps its `support` heaviest vertices, renormalised (anny's ear keypoints spread
    over 4,000 vertices; their 32 heaviest place them within a few millimetres)."""

    def __init__(self, model, support: int = 32):
        rows, bones = [], []
        for _, _, source, name, _ in BLAZEPOSE_LANDMARKS:
            row = torch.zeros(model.num_vertices, dtype=model.dtype)
            bone = -1
            if source == "keypoint":
                full = model.keypoint_weights[model.keypoint_labels.index(name)]
                top = torch.topk(full, min(support, len(full))).indices
                row[top] = full[top] / full[top].sum()
            elif source == "vertex":
                row[int(name)] = 1.0
            else:
                bone = model.bone(name)
            rows.append(row)
            bones.append(bone)
        dense = torch.stack(rows)
        self.vertex_ids = torch.nonzero(dense.abs().sum(0) > 0)[:, 0]
        self.vertex_weights = dense[:, self.vertex_ids]  # (33, S)
        self.bone_ids = torch.tensor([max(b, 0) for b in bones])
        self.from_bone = torch.tensor([b >= 0 for b in bones])
        self.weights = torch.tensor([row[4] for row in BLAZEPOSE_LANDMARKS], dtype=model.dtype)

    def __call__(self, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """vertices (B, S, 3) at `vertex_ids` (or all V), joints (B, J, 3) -> (B, 33, 3)."""
        if vertices.shape[1] != len(self.vertex_ids):
            vertices = vertices[:, self.vertex_ids]
        on_surface = torch.einsum("ls,bsi->bli", self.vertex_weights, vertices)
        at_bones = joints[:, self.bone_ids]
        return torch.where(self.from_bone[None, :, None], at_bones, on_surface)


def hip_centre(points: np.ndarray | torch.Tensor):
    """The midpoint of the two hip landmarks, the origin of MediaPipe's world landmarks."""
    return 0.5 * (points[..., LEFT_HIP, :] + points[..., RIGHT_HIP, :])
