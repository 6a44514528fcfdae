"""Body segments for texturing: the body model's vertices grouped into the parts whose colours a
photo keeps apart (head, neck, torso, hips, and each upper arm, forearm, hand, thigh, shin, foot).

The body model's own part labels are too coarse for this (one 'body' part covers the torso, arms and
legs, so a bare arm crossing a shirt would lend the shirt's back its skin). Each vertex takes the
segment of the bone that moves it most (its largest skinning weight); the model's head part (face,
eyes, mouth) is all head. numpy only: the preview engine never imports torch, so the caller hands
in the model's arrays (`model.skin_weights.numpy()`, `model.bone_labels`, ...).
"""

from __future__ import annotations

import numpy as np

SEGMENTS = ("head", "neck", "torso", "hips", "upper_arm.L", "upper_arm.R", "forearm.L", "forearm.R", "hand.L",
            "hand.R", "thigh.L", "thigh.R", "shin.L", "shin.R", "foot.L", "foot.R")
# the segment whose colour a segment the photo does not show continues (a leg completed below a
# half-body photo: the shin continues the thigh, the thigh the hips, ...)
CONTINUES = {"neck": "torso", "hips": "torso", "upper_arm.L": "torso", "upper_arm.R": "torso",
             "forearm.L": "upper_arm.L", "forearm.R": "upper_arm.R", "hand.L": "forearm.L", "hand.R": "forearm.R",
             "thigh.L": "hips", "thigh.R": "hips", "shin.L": "thigh.L", "shin.R": "thigh.R", "foot.L": "shin.L",
             "foot.R": "shin.R"}
# bone name prefix -> segment (sided segments take the bone's .L/.R)
_BONE_PREFIXES = (("head", "head"), ("eye", "head"), ("neck03", "head"), ("neck", "neck"), ("spine", "torso"),
                  ("clavicle", "torso"), ("root", "hips"), ("pelvis", "hips"), ("shoulder", "upper_arm"),
                  ("upperarm", "upper_arm"), ("lowerarm", "forearm"), ("wrist", "hand"), ("finger", "hand"),
                  ("metacarpal", "hand"), ("upperleg", "thigh"), ("lowerleg", "shin"), ("foot", "foot"), ("toe", "foot"))
# the body model's part labels that are all head
_HEAD_PARTS = ("head", "eye", "mouth", "tongue")


def bone_segment(bone: str) -> str:
    for prefix, segment in _BONE_PREFIXES:
        if bone.startswith(prefix):
            if segment in ("head", "neck", "torso", "hips"):
                return segment
            return f"{segment}.{bone.rsplit('.', 1)[-1]}"
    return "torso"


def body_segments(skin_weights: np.ndarray, bone_labels: list[str], faces: np.ndarray | None = None,
                  face_parts: np.ndarray | None = None, part_labels: list[str] | None = None
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per body vertex, an index into SEGMENTS (and SEGMENTS itself, the names to hand to
    `texture_mesh`). With the model's faces, face_parts and part_labels, its head parts are head."""
    table = np.array([SEGMENTS.index(bone_segment(b)) for b in bone_labels])
    segments = table[np.asarray(skin_weights).argmax(1)]
    if faces is not None and face_parts is not None and part_labels is not None:
        head_ids = [i for i, n in enumerate(part_labels) if n.startswith(_HEAD_PARTS)]
        head_faces = np.isin(np.asarray(face_parts), head_ids)
        segments[np.unique(np.asarray(faces)[head_faces])] = SEGMENTS.index("head")
    return segments, SEGMENTS
