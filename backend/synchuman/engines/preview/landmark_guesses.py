"""Which of the pose step's BlazePose landmarks are its guesses, before the landmark rules
(landmark_rules.py) and the fit read them: a limb drawn off the person, and hands put inside the
photo where the arm runs on out of its frame. Landmarks outside the photo are guesses too; the
caller silences those itself.
"""

from __future__ import annotations

import numpy as np

from ...foreground.pose import FEET, HANDS, LANDMARK

SEEN = 0.5  # a landmark at least this visible counts as seen
SIDES = ("left", "right")  # the order of foreground.pose.HANDS and FEET
OFF_PERSON = 0.1  # of the mask's height: a limb with a hidden landmark this far outside the mask is a guess
LIMBS = [[LANDMARK[f"{side}_{joint}"], *ends[k]] for k, side in enumerate(SIDES)
         for joint, ends in (("elbow", HANDS), ("knee", FEET))]   # the elbow or knee, then the hand or foot
# an arm whose mask runs on from the elbow, in its upper arm's direction, out of the photo's bottom
# edge (this share of that line filled) while its hand's landmarks make the forearm shorter than this
# share of the upper arm in the photo hangs on out of the frame: the hand in the frame is a guess
ARM_RUNS_ON, SHORT_FOREARM = 0.95, 0.5


def guessed_landmarks(uv: np.ndarray, seen: np.ndarray, mask: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per landmark (uv (33, 2) photo pixels, seen (33,) visibility, `inside` the photo), is it one
    of the detector's guesses inside the photo (_guessed_limbs, _hands_beyond_the_frame)?"""
    return _guessed_limbs(uv, seen, mask, inside) | _hands_beyond_the_frame(uv, mask, inside)


def _guessed_limbs(uv: np.ndarray, seen: np.ndarray, mask: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per landmark, is it a hidden one (inside the photo) of a limb the detector guessed: one with a
    hidden landmark more than OFF_PERSON of the mask's height outside the mask? A limb hidden behind
    the body projects inside the mask; one guessed off it is wrong as a whole (the camera photo's
    hidden leg was drawn as a raised knee beside the coat)."""
    import cv2

    rows = np.flatnonzero(mask.any(1))
    guessed = np.zeros(len(uv), bool)
    hidden = inside & (seen < SEEN)
    if len(rows) == 0 or not hidden.any():
        return guessed
    gap = cv2.distanceTransform((~mask.astype(bool)).astype(np.uint8), cv2.DIST_L2, 3)
    h, w = mask.shape
    px = np.clip(uv.astype(int), 0, [w - 1, h - 1])
    off = hidden & (gap[px[:, 1], px[:, 0]] > OFF_PERSON * (rows[-1] - rows[0] + 1))
    for limb in LIMBS:
        if off[limb].any():
            guessed[limb] = hidden[limb]
    return guessed


def _hands_beyond_the_frame(uv: np.ndarray, mask: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Per landmark, is it a hand's (wrist, pinky, index, thumb) that BlazePose put in the photo where
    the arm runs on out of its bottom edge? In a photo cut above the hands (a half-body portrait)
    BlazePose often puts the hands just inside the frame, far up the hanging forearm (a forearm a
    quarter of the upper arm's length in the photo), and the fit then points the forearm at the
    camera. A forearm really pointing at the camera leaves the photo's background below its elbow
    (or ends with the person's feet); a hanging one fills the line on from the elbow down to the edge
    (ARM_RUNS_ON, SHORT_FOREARM)."""
    h, w = mask.shape
    guessed = np.zeros(len(uv), bool)
    for side, hand in zip(SIDES, HANDS):
        shoulder, elbow, hand = LANDMARK[f"{side}_shoulder"], LANDMARK[f"{side}_elbow"], list(hand)
        if not (inside[[shoulder, elbow]].all() and inside[hand[0]]):
            continue
        upper = uv[elbow] - uv[shoulder]
        length = float(np.linalg.norm(upper))
        if length < 1.0 or upper[1] <= 0 or np.linalg.norm(uv[hand[0]] - uv[elbow]) >= SHORT_FOREARM * length:
            continue
        steps = np.arange(0.0, (h - 1 - uv[elbow, 1]) * length / upper[1])   # one-pixel steps to the bottom edge
        line = uv[elbow] + steps[:, None] * (upper / length)
        if len(line) < 2 or not ((line[:, 0] >= 0) & (line[:, 0] <= w - 1)).all():
            continue
        px = np.clip(np.round(line).astype(int), 0, [w - 1, h - 1])
        if mask[px[:, 1], px[:, 0]].astype(bool).mean() >= ARM_RUNS_ON:
            guessed[hand] = inside[hand]
    return guessed


# Landmark geometry the rules share (landmark_rules, hidden_feet)
def _foot(side: str) -> list[int]:
    """The landmarks of the named side's foot (ankle, heel, toe)."""
    return list(FEET[SIDES.index(side)])


def _midpoint(points: np.ndarray, part: str) -> np.ndarray:
    """The midpoint of a landmark pair ("hip", "shoulder", ...) in (33, k) landmarks."""
    return (points[LANDMARK[f"left_{part}"]] + points[LANDMARK[f"right_{part}"]]) / 2


def _torso_length(points: np.ndarray) -> float:
    """From the hips' midpoint to the shoulders', in the landmarks' units (pixels or metres)."""
    return float(np.linalg.norm(_midpoint(points, "shoulder") - _midpoint(points, "hip")))
