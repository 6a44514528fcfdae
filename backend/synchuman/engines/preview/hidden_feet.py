"""One foot hidden: where BlazePose sees one of a walker's feet and loses the other, the legs are set a
typical step apart (`one_foot_step`, called by landmark_rules.observation). Either it draws both feet
on the one in view (`_one_foot_behind_the_other`), or it guesses the hidden one up the leg
(`_hidden_foot_on_the_floor`, then `_hidden_leg_in_front`). The step is set under the hips
(`_under_the_hips`). World landmarks upright, metres, y down, z away from the camera.
"""

from __future__ import annotations

import numpy as np

from ...foreground.pose import LANDMARK
from .landmark_guesses import SEEN, _foot, _torso_length

STEP_BEHIND = 0.45  # metres between the ankles in depth: a walking step, where the photo shows one foot before the other
HIPS_APART = 0.2  # torso lengths between the hips in the photo: less is a person seen from the side
ONE_FOOT = 0.1  # torso lengths across the photo: ankles nearer are drawn on one foot (crossed feet stand further apart)
BEHIND_NEAR = 0.35  # torso lengths across the photo: BlazePose guesses a foot hidden behind the other
# leg nearer the seen foot than this (the turned walkers: 0.02-0.19); one it puts further off was lost
# in plain view (a person standing in wide trousers beside a dog: 0.74)


def one_foot_step(world: np.ndarray, uv: np.ndarray, seen: np.ndarray, outside: np.ndarray, trust: np.ndarray,
                  detected: np.ndarray) -> float | None:
    """The stride set where one foot hides the other (the left ankle's depth less the right's, metres),
    or None. In place on `world` and `trust`."""
    hidden = _hidden_foot_on_the_floor(world, uv, seen, outside, trust)
    if hidden is not None:
        return _hidden_leg_in_front(world, hidden)
    return _one_foot_behind_the_other(world, uv, outside, detected)


def _hidden_foot_on_the_floor(world: np.ndarray, uv: np.ndarray, seen: np.ndarray, outside: np.ndarray,
                              trust: np.ndarray) -> str | None:
    """A foot BlazePose cannot see (behind the other leg or a coat) while it sees the other one, and
    puts RAISED_FOOT or more above it, stands on the floor like the other: BlazePose guesses a hidden
    leg short and bent (a walker turned from the camera came out kicking back, the foot 25 cm up),
    where a raised foot is in plain view. Its ankle, heel and toe go down to the seen foot's
    heights, its knee half as far, and the photo's positions of all four, as wrong, no longer pull
    (`trust` 0). Where the seen leg hides it (BlazePose's guess within BEHIND_NEAR of the seen foot
    across the photo), its foot and knee stand in the seen one's columns (left at BlazePose's guess,
    beside the seen leg and off the mask, the mask carved that shin to pieces), and the side set down
    is returned ("left", "right") for a step. A foot it puts further off was lost in plain view: it
    stands under its own knee, beside the seen one (their depth, and the knees' too: BlazePose's
    depth for it is a guess as well), and None is returned (no step is guessed). In place; world
    upright, y down."""
    from ...body.stride import RAISED_FOOT

    for side, other in (("left", "right"), ("right", "left")):
        foot, ground = _foot(side), _foot(other)
        drop = world[ground[0], 1] - world[foot[0], 1]
        if seen[foot[0]] >= SEEN or seen[ground[0]] < SEEN or outside[foot + ground].any() or drop < RAISED_FOOT:
            continue
        world[foot, 1] = world[ground, 1]
        knee, other_knee = LANDMARK[f"{side}_knee"], LANDMARK[f"{other}_knee"]
        world[knee, 1] += drop / 2
        trust[foot + [knee]] = 0.0
        if abs(uv[foot[0], 0] - uv[ground[0], 0]) > BEHIND_NEAR * _torso_length(uv):
            world[foot, 0] += world[knee, 0] - world[foot[0], 0]
            world[foot, 2] += world[ground[0], 2] - world[foot[0], 2]
            world[knee, 2] = world[other_knee, 2]
            return None
        world[foot + [knee], 0] = world[ground + [other_knee], 0]
        return side
    return None


def _hidden_leg_in_front(world: np.ndarray, side: str) -> float:
    """The legs a walking step apart (STEP_BEHIND, body.stride.step_apart), the leg whose foot BlazePose
    hid (`_hidden_foot_on_the_floor`) in front. The foot in view hides the other, so it is the front
    one, but BlazePose names the legs the wrong way round there: on the benchmark's turned walkers the
    leg it hid is the truth's front leg (the step that way, with the arms swinging against it, took
    their Chamfer 42/44 mm to 35/37, the other way to 36/40 with the forearms 3 times further off),
    and with the legs side by side their shins and feet were 11-19 cm off. Returns the stride (the left
    ankle's depth less the right's, metres; z away from the camera)."""
    from ...body.stride import step_apart

    stride = -STEP_BEHIND if side == "left" else STEP_BEHIND
    step_apart(world, stride, _under_the_hips(world))
    return stride


def _one_foot_behind_the_other(world: np.ndarray, uv: np.ndarray, outside: np.ndarray,
                               detected: np.ndarray) -> float | None:
    """A person walking towards the camera at a slant may show one foot, the other a step behind and
    hidden by it. BlazePose then draws both feet on the one in view: their landmarks in the same photo
    columns, the ankles within ONE_FOOT of each other across the photo (feet crossed stand a foot's
    width apart), while the hips stand apart (a person seen from the side, feet together, has the
    hips together too). Their depths it puts 4-9 cm apart, the stride cannot be read from where the feet
    stand (body.stride.sole_rows), and the legs came out side by side, half the truth's depth. The
    ankles are set STEP_BEHIND apart under the hips (body.stride.step_apart), the one
    BlazePose's own depth (`detected`, as it came) puts further behind. How long the step is the photo
    does not say: this is a typical walking step. (Where BlazePose instead hides the foot behind and
    guesses it up the leg, it has named the legs the wrong way round on the benchmark's walkers, and
    nothing here tells which is in front.) In place; world upright. Returns the stride set (the left
    ankle's depth less the right's, metres; the fit swings the arms with it), or None."""
    from ...body.stride import RAISED_FOOT, step_apart

    left, right = _foot("left"), _foot("right")
    if outside[left + right].any() or abs(world[left[0], 1] - world[right[0], 1]) > RAISED_FOOT:
        return None
    (l0, l1), (r0, r1) = ((uv[foot, 0].min(), uv[foot, 0].max()) for foot in (left, right))
    torso = _torso_length(uv)
    hips = abs(uv[LANDMARK["left_hip"], 0] - uv[LANDMARK["right_hip"], 0])
    if not (l0 < r1 and r0 < l1) or abs(uv[left[0], 0] - uv[right[0], 0]) > ONE_FOOT * torso \
            or hips < HIPS_APART * torso:
        return None
    stride = STEP_BEHIND if detected[left[0], 2] > detected[right[0], 2] else -STEP_BEHIND
    step_apart(world, stride, _under_the_hips(world))
    return stride


def _under_the_hips(world: np.ndarray) -> float:
    """The depth a guessed step's middle takes: the hips' (metres). A walker's hips ride between the
    feet; BlazePose's depth for a foot it guesses is not read from the photo, and on the benchmark's
    turned walkers it put the step's middle up to 10 cm behind the hips, their upper bodies that far
    ahead over the feet."""
    return float(world[[LANDMARK["left_hip"], LANDMARK["right_hip"]], 2].mean())
