"""Canonical rest poses: the mesh and its skeleton re-posed together (linear blend skinning).

`photo` keeps the photo's pose. `a-pose` and `t-pose` straighten arms and legs: each arm bone
(upper arm, forearm, hand, fingers follow) is turned to point out and 45 degrees down (A) or level
(T), each thigh and shin to point down. The turn of a bone is the least one from where its parent
left it, about its head, so rolls and the torso stay as they were.

Photo-pose artefacts are named, not hidden: a hand that touches the hip or thigh (its mesh is
merged with it, so a re-pose stretches the surface between them), and crossed arms.
"""

from __future__ import annotations

import numpy as np

from .skeleton import Skeleton
TOUCH_M = 0.06  # a hand this close to the hip or thigh bones is merged with them in the mesh
_ARM_CHAIN = ("upper_arm", "forearm", "hand")
_LEG_CHAIN = ("thigh", "shin")


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -0.999999:
        axis = np.cross(a, [1.0, 0.0, 0.0])
        axis = axis if np.linalg.norm(axis) > 1e-6 else np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def target_directions(skeleton: Skeleton, rest_pose: str) -> dict[int, np.ndarray]:
    """Bone index -> wanted direction (output frame: y up, the person's left at +x)."""
    if rest_pose == "photo":
        return {}
    drop = np.deg2rad(45.0 if rest_pose == "a-pose" else 0.0)
    out = {}
    for side, sign in (("L", 1.0), ("R", -1.0)):
        arm = np.array([sign * np.cos(drop), -np.sin(drop), 0.0])
        for part in _ARM_CHAIN:
            out[skeleton.index(f"{part}.{side}")] = arm
        for part in _LEG_CHAIN:  # legs straight down, feet a little apart
            out[skeleton.index(f"{part}.{side}")] = np.array([0.05 * sign, -1.0, 0.0])
    return out


def bone_transforms(skeleton: Skeleton, targets: dict[int, np.ndarray]) -> np.ndarray:
    """(K, 4, 4) rigid transforms (old world -> new world) that turn the targeted bones."""
    moves = np.tile(np.eye(4), (skeleton.count, 1, 1))
    for k, parent in enumerate(skeleton.parents):
        carried = moves[parent] if parent >= 0 else np.eye(4)
        if k in targets:
            head = carried[:3, :3] @ skeleton.heads[k] + carried[:3, 3]
            now = carried[:3, :3] @ (skeleton.tails[k] - skeleton.heads[k])
            turn = np.eye(4)
            turn[:3, :3] = _rotation_between(now, targets[k])
            turn[:3, 3] = head - turn[:3, :3] @ head
            moves[k] = turn @ carried
        else:
            moves[k] = carried
    return moves


def apply_pose(skeleton: Skeleton, vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray,
               moves: np.ndarray, normals: np.ndarray | None = None):
    """The skeleton, the mesh (LBS with (V, 4) joints/weights) and its normals moved by `moves`."""
    blend = np.einsum("vi,vixy->vxy", weights, moves[joints.astype(np.int64)])
    moved = np.einsum("vxy,vy->vx", blend[:, :3, :3], vertices) + blend[:, :3, 3]
    if normals is not None:
        normals = np.einsum("vxy,vy->vx", blend[:, :3, :3], normals)
        normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    rot, shift = moves[:, :3, :3], moves[:, :3, 3]
    new = Skeleton(names=list(skeleton.names), parents=list(skeleton.parents),
                   heads=np.einsum("kxy,ky->kx", rot, skeleton.heads) + shift,
                   tails=np.einsum("kxy,ky->kx", rot, skeleton.tails) + shift,
                   axes=rot @ skeleton.axes)
    return new, moved, normals


def pose_artefacts(skeleton: Skeleton) -> list[str]:
    """Warnings, by name, about photo-pose features that a re-pose or an animation will show."""
    notes = []
    for side, word, sign in (("L", "left", 1.0), ("R", "right", -1.0)):
        hand = skeleton.heads[skeleton.index(f"hand.{side}")]
        for part in ("hips", f"thigh.{side}"):
            k = skeleton.index(part)
            a, b = skeleton.heads[k], skeleton.tails[k]
            t = np.clip(np.dot(hand - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
            if np.linalg.norm(hand - (a + t * (b - a))) < TOUCH_M + 0.05 * (part == "hips"):
                notes.append(f"rig: the {word} hand touches the hip in the photo; its mesh is merged with the hip, "
                             "so moving that arm stretches the surface between them")
                break
        middle = skeleton.heads[skeleton.index("hips")][0]
        if sign * (hand[0] - middle) < -0.02:
            notes.append(f"rig: the {word} arm crosses the body in the photo (crossed arms); the arms' surfaces "
                         "touch, so re-posing or animating them may pull the other arm's clothes along")
    return list(dict.fromkeys(notes))
