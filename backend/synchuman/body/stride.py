"""The stride of a walking person, read from where their feet stand in the photo, and the arm swing
that goes with it (`body.fit` applies both to MediaPipe's world landmarks before the pose is fitted).

MediaPipe's world landmarks compress a walker's stride to a third and may flip it, and carry almost no
depth for the arms. With a focal length and a level camera, the rows where the mask ends under each
foot give the depth between the feet (`sole_rows`, where the feet's own landmarks step too:
`shown_by_the_feet`, or are not seen at all: `standing_soles`; `stride_depth`); a step then sets each arm's depth,
the hand swinging against its own foot (`arm_swing`). Same camera frame as `body.fit`: metres, y down,
z away from the camera.
"""

from __future__ import annotations

import numpy as np
import torch

from ..foreground.pose import FEET, HANDS, LANDMARK

SHOULDERS = (LANDMARK["left_shoulder"], LANDMARK["right_shoulder"])
HIPS = (LANDMARK["left_hip"], LANDMARK["right_hip"])
SOLES = tuple(foot[1:] for foot in FEET)  # heel, toe per side
ANKLES = tuple(foot[0] for foot in FEET)
FEET_SEEN = 0.5  # the stride step needs a foot's landmarks at least this visible
SOLE_BAND = 0.03  # a foot's column band reaches this far beside its landmarks (of the person's size)
SOLE_REACH = 0.2  # the mask's bottom is looked for this far below a foot's lowest landmark (same unit):
# over the benchmark's 256 photos it ends 0-0.14 below (feet BlazePose guesses up the shins under wide
# trousers or behind kneeling legs the furthest), none between 0.14 and 0.38. At 0.12 the window's
# end lay among them: one pixel more of mask read seed 9's person beside a dog as a mask running on,
# her foot was left up the shin and the leg kicked back (23.5 -> 50.8 mm)
RAISED_FOOT = 0.15  # metres: landmarks with one ankle this far above the other show a raised foot
MAX_STRIDE = 0.9  # metres between the feet in depth: beyond it, a foot is more likely raised
STEP_CONTACT = 0.2  # metres: in a step the front foot touches down on its heel (or is still in the air) and
# the rear one pushes off its toes, so the soles' rows give the depth from the front heel to the rear
# toe, about a foot's length short of the ankles'
MIN_STEP = 0.125  # metres: in a step the feet's depths differ by this much more than the hips' turn puts
# one behind the other (over the benchmark's 512 people: standing ones at most 0.10, the people turned 30
# degrees 0.03-0.05 of their 0.13-0.14; facing walkers 0.16-0.34, seed 20's small walker far back 0.15)
MIN_STEP_PX = 4  # and the soles' rows by this many pixels at least (the mask's bottom is good to a few)
MIN_LANDMARK_STEP = 0.015  # of the person's size: a step lowers the nearer foot's own landmarks this much at
# least (the benchmark's walkers: 2.5-4.7 %, their masks' bottoms 2.9-5.1 %)
LEG_KNEES = (LANDMARK["left_knee"], LANDMARK["right_knee"])
ARM_ELBOWS = (LANDMARK["left_elbow"], LANDMARK["right_elbow"])
SWING = 0.5  # a walking person's hand swings this share of its own foot's depth about the shoulders, the other way
MIN_SWING_STRIDE = 0.2  # metres between the feet in depth: a shorter stride is a stance, not a step
HANGING = 0.3  # of the upper arm's length: an arm swings where its wrist hangs this far below its elbow
# (MediaPipe's world landmarks on the benchmark's 512 photos: walkers 0.78-1.04, arms held out or crossed
# -0.33-0.18; the body model's bent forearm swung 23 degrees forward, in true depth: 0.45)
KNEE_BEND = 0.03  # metres: in a step both knees are bent (the front one takes the weight, the rear one
# pushes off), each this far in front of the straight leg's line: about 8 degrees, the least of them


def sole_rows(mask: np.ndarray, uv: np.ndarray, seen: np.ndarray, size: float) -> np.ndarray:
    """Per foot (left, right): the photo row (pixel centres at .5) of the bottom edge of the mask under
    it, NaN where that is unclear: a foot not seen (its ankle or toes; the heel of a foot facing the
    camera is often behind it: one in ten of the benchmark's feet with both seen has it under 0.5),
    two feet in one column (a foot's band reaches SOLE_BAND beside its landmarks, but not past the
    middle of the gap to the other's), or a mask that runs on (a long coat, the photo's edge). uv
    (33, 2) and seen (33,) bool are the landmarks."""
    mask = np.asarray(mask) >= 0.5
    h, w = mask.shape
    rows = np.full(2, np.nan)
    feet = [list(foot) for foot in FEET]
    span = [(uv[foot, 0].min(), uv[foot, 0].max()) for foot in feet]
    if span[0][0] < span[1][1] and span[1][0] < span[0][1]:
        return rows   # the feet share columns
    pad = SOLE_BAND * size
    middle = 0.5 * (max(span[0][0], span[1][0]) + min(span[0][1], span[1][1]))   # of the gap between them
    bands = []
    for side, foot in enumerate(feet):
        lo, hi = span[side][0] - pad, span[side][1] + pad
        lo, hi = (max(lo, middle), hi) if span[side][0] >= middle else (lo, min(hi, middle))
        bands.append((lo, hi, uv[foot, 1].max(), bool(seen[foot[0]] and seen[foot[-1]])))   # ankle and toes
    for side, (lo, hi, bottom, ok) in enumerate(bands):
        if not ok:
            continue
        c0, c1 = max(int(np.floor(lo)), 0), min(int(np.ceil(hi)), w)
        r0, r1 = max(int(bottom - 0.3 * SOLE_REACH * size), 0), min(int(bottom + SOLE_REACH * size), h - 1)
        if c1 <= c0 or r0 >= r1:
            continue
        filled = np.flatnonzero(mask[r0:r1 + 1, c0:c1].any(1))
        if len(filled) and filled[-1] < r1 - r0:  # the mask ends inside the window, above the photo's edge
            rows[side] = r0 + filled[-1] + 1.0
    return rows


def shown_by_the_feet(soles: np.ndarray, uv: np.ndarray, size: float) -> np.ndarray:
    """`soles` (sole_rows), or NaN for both where the feet's own landmarks (heel and toe) do not step as
    the mask's bottom does: the same foot lower by at least MIN_LANDMARK_STEP of `size`. A shoe the
    mask lost, or one found again by its colour while its pair was not, moves the mask's bottom alone
    (a person standing in a dark coat over a dark saucer read a 0.4 m stride)."""
    if not np.isfinite(soles).all():
        return soles
    landmarks = np.array([uv[list(foot[1:]), 1].max() for foot in FEET])
    step, shown = soles[0] - soles[1], landmarks[0] - landmarks[1]
    if np.sign(step) != np.sign(shown) or abs(shown) < MIN_LANDMARK_STEP * size:
        return np.full(2, np.nan)
    return soles


def standing_soles(mask: np.ndarray, uv: np.ndarray, seen: np.ndarray, size: float) -> np.ndarray:
    """Where the feet stand (`sole_rows`), confirmed by the feet's own landmarks (`shown_by_the_feet`).
    Where neither foot is seen, MediaPipe has put both up the shins (seed 6's walking coat, dark shoes
    over pebbles: visibility 0.2-0.4, 7 % of the size above the soles), and their landmarks can neither
    confirm a step nor deny it: their columns still tell the feet apart, and the mask alone says where
    they stand."""
    if not seen[list(FEET[0]) + list(FEET[1])].any():
        return sole_rows(mask, uv, np.ones_like(seen), size)
    return shown_by_the_feet(sole_rows(mask, uv, seen, size), uv, size)


def stride_depth(world: torch.Tensor, soles: np.ndarray, scale: float, hip_row: float, focal: float,
                 floor: float, centre_row: float) -> tuple[torch.Tensor, float | None]:
    """The world landmarks with the two legs' depths taken from where the feet stand: (landmarks,
    the depth from the left foot to the right one in metres, or None where it does not apply).

    A level camera sees the floor `floor` metres below the hip centre; a foot standing on it `t`
    metres further than the hips shows at the row
    `centre_row + (hip_row - centre_row + scale * floor) / (1 + t * scale / focal)`, so each sole's row
    gives its depth. Only the difference between the feet is used (it does not depend on the floor's
    exact height), lengthened by STEP_CONTACT, and set between the feet by `step_apart` (which bends
    the knees too). Not applied where a foot may be raised (the landmarks put one ankle 15 cm above
    the other, or the rows imply a stride longer than MAX_STRIDE), nor where the feet stand side by
    side: their depths differ by less than MIN_STEP beyond what the hips' differ the same way (a
    person turned from the camera stands with one foot behind the other, as her hips are), or their
    rows by less than MIN_STEP_PX. A depth, not a share of the person's height in the photo: the same
    step shows fewer rows apart on a person further back (a share of 3 % left seed 20's small walker,
    2.5 % apart, with her feet together)."""
    ankles = world[list(ANKLES)]
    if not np.isfinite(soles).all() or abs(float(ankles[0, 1] - ankles[1, 1])) > RAISED_FOOT \
            or abs(soles[0] - soles[1]) < MIN_STEP_PX:
        return world, None
    inverse = scale / focal
    depth = [((hip_row - centre_row + scale * floor) / max(row - centre_row, 1.0) - 1.0) / inverse for row in soles]
    stride = depth[0] - depth[1]
    turned = float(world[HIPS[0], 2] - world[HIPS[1], 2])   # the hips' own depths, the same way round
    if abs(stride) - max(0.0, float(np.sign(stride)) * turned) < MIN_STEP:
        return world, None
    stride += np.sign(stride) * STEP_CONTACT
    if abs(stride) > MAX_STRIDE or min(soles) - centre_row < 1.0:  # feet above the horizon: not a level camera
        return world, None
    world = world.clone()
    step_apart(world, stride)
    return world, stride


def step_apart(world, stride: float, about: float | None = None) -> None:
    """Sets the depth between the ankles to `stride` (metres, the left's depth less the right's; z
    away from the camera) about the depth `about` (their mean where None): each foot's landmarks
    move by their share, each knee by half its foot's move and KNEE_BEND towards the camera (without
    it a step's legs came out straight, the benchmark walkers' knees 2-5 cm from the truth's). In
    place, on a tensor or an array (33, 3)."""
    mean = float(world[list(ANKLES), 2].mean()) if about is None else about
    for side, target in ((0, mean + stride / 2), (1, mean - stride / 2)):
        move = target - float(world[ANKLES[side], 2])
        world[list(FEET[side]), 2] += move
        world[LEG_KNEES[side], 2] += move / 2 - KNEE_BEND


def arm_swing(world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The world landmarks with each arm's depth set by the stride: in a step, each hand swings
    against its own side's foot (SWING of that foot's depth about the feet's centre, the elbow half
    as far) about its shoulder. MediaPipe's own depth for the elbows and wrists carries almost no
    information (correlation 0.0-0.4 with the truth, benchmarks/pose_depth.py); a swing is a fact of
    walking. Called only where the stride was read from the feet and is at least MIN_SWING_STRIDE; an
    arm that does not hang (`hangs`) keeps its depth.

    Also returns, per landmark (33,), -1 on the arm swung forward (its elbow and hand) and 0
    elsewhere: that swing is a least reach, and how far beyond it the arm reaches is the photo's to
    say (its foreshortening). An arm swinging forward bends its elbow, and the benchmark walkers'
    forward hands reach about twice the swing; a hand swinging back has no such freedom (with a
    least reach on it too, two of twelve walkers came out worse than with none, docs/benchmarks.md)."""
    ankles = world[list(ANKLES), 2]
    world = world.clone()
    way = torch.zeros(len(world), dtype=world.dtype)
    for side in (0, 1):
        if not hangs(world, side):
            continue
        swing = -SWING * float(ankles[side] - ankles.mean())
        shoulder = float(world[SHOULDERS[side], 2])
        hand = list(HANDS[side])
        world[hand, 2] += shoulder + swing - world[hand[0], 2]
        world[ARM_ELBOWS[side], 2] = shoulder + swing / 2
        if swing < 0:  # forward: towards the camera, -z
            way[hand + [ARM_ELBOWS[side]]] = -1.0
    return world, way


def hangs(world, side: int) -> bool:
    """Whether the arm on `side` (0 left, 1 right) hangs, its wrist HANGING of the upper arm's length
    below its elbow (y is down): a walker's hanging arms swing; arms held out, crossed or holding
    something do not (a false stride, read where the mask ran on under one shoe, swung seed 21's
    crossed arms). `world` (33, 3) landmarks."""
    shoulder, elbow, wrist = (world[i] for i in (SHOULDERS[side], ARM_ELBOWS[side], HANDS[side][0]))
    upper = float(np.linalg.norm(np.asarray(elbow - shoulder, np.float64)))
    return float(wrist[1] - elbow[1]) >= HANGING * upper
