"""The backdrop the learned mask took in, cut out by colour.

MediaPipe's mask is read at a low resolution and spills over the person's outline where the backdrop
is dark or busy: beside a hand, in the gap between an arm and the body, between a coat and a leg,
over watermark letters. Against the truth, most of its false pixels have probability 0.5-0.9, as much
of the true person does, so the probability cannot tell them (docs/benchmarks.md, session 34). Their
colour can: `without_backdrop` cuts the mask's box with GrabCut, where only the pose's narrow core is
sure person (each seen bone CORE_HALF_WIDTH of the height to either side, the hands' and feet's bones
wider, the torso, the head with its hair, and the mask along the photo's frame, where the person is
cut off), the rest of the mask probable person and the box around it probable background. Pieces of
the mask the cut gives to the background go, if they are large enough (MIN_PIECE) and do not reach
the photo's frame; then what no longer joins the core goes too.

The pose is read before this and kept: read again on the cut mask it moved, and rules that turn on
where the feet stand flipped (docs/benchmarks.md, sessions 34 and 35).
"""

from __future__ import annotations

import cv2
import numpy as np

from .completion import BONES, WorkBox, draw_bones, draw_torso_and_head
from .pose import LANDMARK, VISIBLE, PersonPose

BOX_MARGIN = 0.1            # of the mask's height: the probable background around it
CORE_HALF_WIDTH = 0.012     # of the mask's height: the sure person about each seen bone
LIMB_END_HALF_WIDTH = 0.03  # ... about the hands' and feet's own bones (fingers and toes reach beyond them)
FRAME_BAND = 0.03           # of the mask's height: the mask this near the photo's edge is the person, cut off
MIN_PIECE = 0.0005          # of the mask's area: smaller pieces are the working scale's slivers, kept
LIMB_END_BONES = tuple((LANDMARK[a], LANDMARK[b]) for side in ("left", "right") for a, b in (
    (f"{side}_ankle", f"{side}_heel"), (f"{side}_ankle", f"{side}_foot_index"), (f"{side}_heel", f"{side}_foot_index"),
    (f"{side}_wrist", f"{side}_index"), (f"{side}_wrist", f"{side}_pinky"), (f"{side}_wrist", f"{side}_thumb")))


def without_backdrop(rgb: np.ndarray, mask: np.ndarray, pose: PersonPose) -> np.ndarray:
    """The mask (bool, the photo's size) without the backdrop a colour cut finds in it; `mask` itself
    where it finds none."""
    if not mask.any():
        return mask
    work = WorkBox(rgb, mask, BOX_MARGIN)
    height = work.height
    frame = np.zeros_like(mask)
    e = max(1, int(FRAME_BAND * height))
    frame[:e] = frame[-e:] = True
    frame[:, :e] = frame[:, -e:] = True
    core = (_core(pose, mask.shape, height) | frame) & mask

    labels = np.full(work.mask.shape, cv2.GC_PR_BGD, np.uint8)
    labels[cv2.dilate(work.mask, np.ones((5, 5), np.uint8)) == 0] = cv2.GC_BGD
    labels[work.mask > 0] = cv2.GC_PR_FGD
    labels[work.scaled(core) > 0] = cv2.GC_FGD
    labels = work.cut(labels)
    backdrop = ((labels == cv2.GC_BGD) | (labels == cv2.GC_PR_BGD)) & (work.mask > 0)
    taken = work.in_photo(backdrop, mask.shape) & mask & ~core

    _, pieces, stats, _ = cv2.connectedComponentsWithStats(taken.astype(np.uint8), connectivity=8)
    large = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_PIECE * mask.sum()) + 1
    taken = np.isin(pieces, large)
    # a piece reaching the frame's band is the person going on beyond the photo (a half-body photo's
    # forearm at the bottom edge, in the backdrop's colours)
    at_frame = np.unique(pieces[taken & (cv2.dilate((frame & mask).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)])
    taken &= ~np.isin(pieces, at_frame[at_frame > 0])
    if not taken.any():
        return mask
    kept = mask & ~taken
    parts = cv2.connectedComponents(kept.astype(np.uint8), connectivity=8)[1]
    joined = np.unique(parts[core & kept])
    return np.isin(parts, joined[joined > 0])


def _core(pose: PersonPose, shape: tuple[int, int], height_px: float) -> np.ndarray:
    """The pose's narrow core (bool, `shape`): its seen bones, the hands' and feet's wider, the torso's
    quadrilateral and the head's disc."""
    band = np.zeros(shape, np.uint8)
    u = pose.image[:, :2]
    seen = pose.image[:, 2] >= VISIBLE
    draw_bones(band, u, seen, BONES, CORE_HALF_WIDTH * height_px)
    draw_bones(band, u, seen, LIMB_END_BONES, LIMB_END_HALF_WIDTH * height_px)
    draw_torso_and_head(band, u, seen)
    return band > 0
