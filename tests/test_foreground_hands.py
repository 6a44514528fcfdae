"""Hands the person mask stops short of, completed by their colour (foreground/hands.py): drawn photos
with a known hand, so what is added can be counted pixel by pixel."""

from __future__ import annotations

import numpy as np

from synchuman.foreground.hands import hands_completed
from synchuman.foreground.pose import HANDS

SKIN, SLEEVE, TROUSERS = (225, 188, 160), (40, 70, 160), (30, 90, 50)
HEIGHT_PX = 700  # the drawn person's height: a hand is at most 0.12 of it


def brick_wall(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Reddish bricks with light mortar lines, and noise: a textured background that has a colour
    near the skin's (the mortar)."""
    rng = np.random.default_rng(seed)
    wall = np.empty((h, w, 3), np.float32)
    wall[:] = (120, 62, 48)
    wall[::30] = wall[1::30] = wall[2::30] = (205, 160, 140)
    for row in range(0, h, 30):
        for col in range(15 * ((row // 30) % 2), w, 60):
            wall[row:row + 30, col:col + 3] = (205, 160, 140)
    return np.clip(wall + rng.normal(0, 4, wall.shape), 0, 255).astype(np.uint8)


def landmarks_for(wrist, knuckles, visibility=1.0) -> np.ndarray:
    """33 BlazePose landmarks with one hand (the first side's) placed; the other hand unseen."""
    marks = np.zeros((33, 4), np.float32)
    wrist_i, pinky_i, index_i, thumb_i = HANDS[0]
    spread = np.array([0.0, 7.0]) if abs(knuckles[0] - wrist[0]) > abs(knuckles[1] - wrist[1]) else np.array([7.0, 0.0])
    for i, at in ((wrist_i, wrist), (pinky_i, np.add(knuckles, spread)), (index_i, np.subtract(knuckles, spread)),
                  (thumb_i, knuckles)):
        marks[i] = (*at, visibility, 1.0)
    return marks


def arm_held_out(hand_colour=SKIN, background=None):
    """A sleeve from the left, then a hand 80 px long (x 250-330) out over the wall; the mask holds the
    sleeve and the hand's first 20 px. Returns (photo, mask, true hand, landmarks)."""
    h, w = 400, 420
    photo = brick_wall(h, w) if background is None else background.copy()
    person = np.zeros((h, w), bool)
    person[190:211, 60:250] = True                           # the sleeve
    photo[person] = SLEEVE
    yy, xx = np.mgrid[:h, :w]
    hand = (xx >= 250) & (xx < 320) & (yy >= 189) & (yy < 212)
    hand |= (xx - 320) ** 2 + ((yy - 200.5) / 1.0) ** 2 <= 11 ** 2   # the rounded fingertips
    photo[hand] = hand_colour
    mask = person | (hand & (xx < 270))
    return photo, mask, hand, landmarks_for((250, 200), (285, 200))


def test_a_hand_held_out_over_a_brick_wall_is_completed_to_its_fingertips():
    photo, mask, hand, marks = arm_held_out()
    out = hands_completed(photo, mask, marks, HEIGHT_PX)
    missing = hand & ~mask
    assert out[mask].all()                                    # nothing is taken away
    assert (out & missing).sum() >= 0.9 * missing.sum()       # the fingers are back
    assert (out & ~mask & ~hand).sum() <= 0.03 * hand.sum()   # and hardly any wall with them


def test_a_hand_in_a_large_photo_is_worked_on_scaled_down_and_completed_at_full_size():
    """The same arm drawn three times larger: the hand's reach (~240 px) is over the working scale's,
    so the cut runs on a reduced crop and its result is brought back to the photo's pixels."""
    import cv2

    photo, mask, hand, marks = arm_held_out()
    big = lambda a: cv2.resize(a.astype(np.uint8), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)  # noqa: E731
    photo, mask, hand = big(photo), big(mask) > 0, big(hand) > 0
    marks[:, :2] *= 3
    out = hands_completed(photo, mask, marks, 3 * HEIGHT_PX)
    missing = hand & ~mask
    assert out[mask].all()
    assert (out & missing).sum() >= 0.9 * missing.sum()
    assert (out & ~mask & ~hand).sum() <= 0.03 * hand.sum()


def test_a_hand_the_colour_of_the_wall_adds_nothing_it_cannot_tell_apart():
    wall = brick_wall(400, 420, seed=1)
    photo, mask, hand, marks = arm_held_out(hand_colour=(120, 62, 48), background=wall)
    out = hands_completed(photo, mask, marks, HEIGHT_PX)
    assert (out & ~mask & ~hand).sum() <= 0.03 * hand.sum()


def test_unseen_hands_and_no_pose_leave_the_mask_as_it_is():
    photo, mask, hand, marks = arm_held_out()
    assert (hands_completed(photo, mask, None, HEIGHT_PX) == mask).all()
    unseen = marks.copy()
    unseen[HANDS[0][2], 2] = 0.2                             # the index knuckle hidden
    assert (hands_completed(photo, mask, unseen, HEIGHT_PX) == mask).all()


def test_a_hand_hanging_beside_the_thigh_does_not_take_the_wall_between_them():
    """A hand hanging beside the trousers on a plain wall: the strip of wall between them is not
    taken, and the hand is completed (the rendered case where a first version took that strip,
    seed 0's standing person, is checked in test_person_detection.py)."""
    h, w = 420, 300
    photo = np.empty((h, w, 3), np.uint8)
    photo[:] = (180, 235, 200)                                # a plain mint wall
    yy, xx = np.mgrid[:h, :w]
    thigh = (xx >= 60) & (xx < 146) & (yy >= 150)
    arm = (xx >= 160) & (xx < 182) & (yy < 230)
    hand = (xx >= 158) & (xx < 184) & (yy >= 230) & (yy < 300)
    photo[thigh], photo[arm], photo[hand] = TROUSERS, SKIN, SKIN
    mask = thigh | arm | (hand & (yy < 250))
    marks = landmarks_for((171, 230), (171, 262))
    out = hands_completed(photo, mask, marks, HEIGHT_PX)
    gap = (xx >= 146) & (xx < 158) & (yy >= 200) & (yy < 320)
    assert not (out & gap).any()
    assert (out & hand & ~mask).sum() >= 0.9 * (hand & ~mask).sum()

