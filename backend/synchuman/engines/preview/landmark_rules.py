"""The landmark rules: how people stand and sit, applied to the pose step's BlazePose landmarks before
the preview's body is fitted to them (body_fit.py). BlazePose's metric depth is the camera's and often
wrong in ways people's bodies rule out (a torso leaned towards the camera, legs leaned back, feet above
the floor, a seated person's thighs sloping down, arms' depth it cannot read): `observation` corrects it
with the camera's pitch taken out (people stand and sit upright in the world) and hands the fit its
observation.
"""

from __future__ import annotations

import numpy as np

from ...foreground.pose import HANDS, LANDMARK
from .hidden_feet import one_foot_step
from .landmark_guesses import SEEN, SIDES, _foot, _midpoint, _torso_length, guessed_landmarks

HIDDEN = 0.3  # the least weight of a landmark inside the photo
UPPER_BODY = LANDMARK["left_hip"]  # landmarks before the hips: face, shoulders, arms, hands
FACE = LANDMARK["left_shoulder"]  # landmarks before the shoulders: the face
FACE_DEPTH = 0.5
ELBOW_DEPTH = 0.25  # share of BlazePose's elbow depth about the shoulder that is kept
HAND_DEPTH = 0.5  # ... and of its wrist's and fingers'
FLOOR_GAP = 0.04  # of the person's size: a foot whose landmarks end this far above the mask's bottom under it floats
SOLE_GAP = 0.015  # ... where a seen foot's lowest landmark usually ends above it (the sole)
TOE_TRUST = 0.3  # of a toe's 2D weight, once a standing person's sole is laid flat
SHIN_UPRIGHT = 0.7  # a shin at least this long in the photo, relative to its thigh, stands upright
MAX_SHIN_LEAN = 0.15  # metres: the most backward lean of a shin taken out
STANDING_LEG = 1.4  # torso lengths: a leg at least this long in the photo (hip to ankle) stands in it
STRAIGHT_LEG = 0.97  # ... and straight: hip to ankle at least this share of hip to knee to ankle
MAX_PITCH = np.radians(10.0)  # the most a camera is taken to look down (or up) at a standing person
# where no leg says: a photographer stands, the camera above the person's middle (the benchmark's
# standing people read 2.8-6.5 degrees)
USUAL_PITCH = np.radians(4.0)
STEP_ROWS = 0.09  # torso lengths: two standing legs whose ankles' rows differ more take a step
REST_ANKLE_LEAN = np.radians(1.0)  # a body standing at ease (the model's rest pose) has its ankles this far behind its hips
SEATED_KNEE = 0.1  # metres: both knees (in the photo) this far in front of their hips and below them: seated
# a levelled thigh and its shin are at least this long, in torso lengths (hips' to shoulders' centre):
# BlazePose's own, standing, median 0.88 and 0.83 (also the body model's and real people's proportions)
SEATED_THIGH, SEATED_SHIN = 0.88, 0.83
LAP_HAND, LAP_ELBOW = 0.7, 0.25  # a seated person's hand on the lap: its depth, hip to knee; its elbow's, shoulder to hand
SEATED_KNEE_TRUST = 0.2  # of a levelled knee's 2D weight
LAP_MARGIN = 0.3  # torso lengths: how far above the hips and beyond the knees a hand still counts as on the lap
KNEE_ON_FLOOR = 0.08  # of the person's size: a knee whose row is this near the mask's bottom under it rests on the floor
KNEE_BAND = 0.05  # ... the mask's bottom in the columns this far beside the knee (same unit)
KNEEL_SHIN_BACK = 0.15  # metres: ... and whose ankle BlazePose puts this far behind it: a kneeling person's shin
KNEEL_HEEL_UP = 0.05  # metres: a kneeling person's heel above the ankle (the foot lies on its top, its sole up)
# a kneeling person's thigh within this angle of the vertical (BlazePose's) kneels upright: its knee
# under its hip in depth. A person sitting back on the heels has the thighs near level.
KNEEL_UPRIGHT_THIGH = np.radians(30.0)
# BlazePose reads a person turned from the camera as turned less: 20/30/40/50 degrees as 14/25/33/43,
# and -30 as -16. Beyond TURN_SEEN its torso's turn is taken to be short by up to TURN_SHORT.
TURN_SEEN, TURN_SHORT = np.radians(12.0), np.radians(7.0)
# ... and a walker turned 25 degrees as 8-19. The face tells: the nose stands NOSE_AHEAD shoulder widths
# in front of the shoulders' axis, so it shows beside their centre by that times the turn's tangent
# (the benchmark's turned walkers read 26-36 degrees, people facing the camera within 13). A face
# turned FACE_TURNED or more, the way BlazePose turns the torso by at least TORSO_TURNED, turns it.
NOSE_AHEAD, FACE_TURNED, TORSO_TURNED = 0.29, np.radians(20.0), np.radians(6.0)


def observation(pose, mask: np.ndarray, focal_px: float | None):
    """The pose step's landmarks as a fit observation, the posture the rules found ("seated": the
    thighs were levelled; "kneeling": the shins laid on the floor; "stepping": one foot was put a step
    behind the other, which hid it; None), and the camera's pitch
    (radians, looking down): landmarks outside the photo are silenced (the detector guesses them), and
    so are hidden ones well outside the person's mask (a part hidden behind the body would project
    inside it); other hidden ones keep a little weight."""
    from ...body.fit import PoseObservation

    obs = PoseObservation.from_person_pose(pose, mask)
    obs.focal_px = focal_px
    h, w = mask.shape
    uv = obs.landmarks_px = np.array(obs.landmarks_px, dtype=np.float64)  # a copy: the feet may move
    seen = np.clip(obs.visibility.astype(np.float64), 0.0, 1.0)
    outside = (uv[:, 0] < 0) | (uv[:, 0] > w) | (uv[:, 1] < 0) | (uv[:, 1] > h)
    outside |= guessed_landmarks(uv, seen, mask, ~outside)
    # inside the photo, a hidden landmark (a kneeling person's ankles behind the thighs) still
    # steers a little: its depth guess is often right
    vis = np.where(outside, 0.0, np.maximum(seen, HIDDEN))
    obs.visibility = vis
    # the legs' lengths are fitted only where an ankle is seen: a kneeling person's shins hidden under
    # the thighs, or wide trousers down to the floor, leave the fit no end to measure them to
    ankles = [LANDMARK["left_ankle"], LANDMARK["right_ankle"]]
    obs.legs_measured = bool((np.where(outside[ankles], 0.0, seen[ankles]) >= SEEN).any())
    world = obs.world_landmarks
    if world is not None and not np.all(np.isfinite(world)):
        world = None
    posture, pitch = None, 0.0
    if world is not None:
        # the rules below hold in the world (people stand and sit upright), where BlazePose's frame is
        # the camera's: they are applied with the camera's pitch taken out
        pitch = _camera_pitch(world, uv, vis, outside)
        world = _pitched(world.astype(np.float64), -pitch)
        # BlazePose's metric depth often leans the torso 20-30 degrees towards the camera while the legs
        # stand straight: trust depth within the limbs (a raised knee, an arm pointing at the camera),
        # and keep the shoulders over the hips in depth (people in photos hold their torso upright)
        lean = 0.5 * (world[LANDMARK["left_shoulder"], 2] + world[LANDMARK["right_shoulder"], 2]) \
            - 0.5 * (world[LANDMARK["left_hip"], 2] + world[LANDMARK["right_hip"], 2])
        world[:UPPER_BODY, 2] -= lean
        # ... and its face 20 cm in front of the shoulders is as exaggerated: halve the face's depth
        # about the shoulders (a nose sits ~10 cm in front of them)
        world[:FACE, 2] *= FACE_DEPTH
        _turned_further(world, uv, seen, outside)
        _legs_upright_in_depth(world, uv, vis, outside)
        _hips_turned_as_the_shoulders(world, outside)
        knees_in_photo = not outside[[LANDMARK["left_knee"], LANDMARK["right_knee"]]].any()
        obs.image_trust = np.ones(len(uv))
        # kneeling is asked first: knees on the floor rule a seat out (a seated person's shins hang
        # below the knees), while BlazePose can put a kneeling person's knees 10 cm in front of the
        # hips, as a seated person's are (seed 26's kneeling person was seated: 198 mm)
        if knees_in_photo and _kneeling_shins_on_the_floor(world, uv, seen, outside, mask, obs.image_trust):
            posture = "kneeling"
            obs.legs_measured = True  # from the hips to the knees on the floor, and the shins lie behind them
        elif knees_in_photo and _level_seated_thighs(world):
            posture = "seated"
        else:
            obs.stride_m = one_foot_step(world, uv, seen, outside, obs.image_trust, obs.world_landmarks)
            posture = "stepping" if obs.stride_m is not None else None
        if posture != "kneeling":
            standing = _standing_legs(uv, vis, outside)
            _feet_on_the_floor(uv, outside, mask, world)
            if posture is None:
                # a foot moved down to the floor can show its leg standing at full length: the short
                # shin BlazePose bent back in depth was its guess at a foot it could not see
                for side in set(_standing_legs(uv, vis, outside)) - set(standing):
                    _stand_upright(world, side)
        if len(_standing_legs(uv, vis, outside)) == 2 and not _a_step(uv):
            _flat_soles(world, obs.image_trust)
        _shrink_arm_depth(world)
        if posture == "seated":
            _hands_on_lap(world, uv)
            # in wide trousers BlazePose's knees sit halfway down the shins: their depth leads
            obs.image_trust[[LANDMARK["left_knee"], LANDMARK["right_knee"]]] = SEATED_KNEE_TRUST
        world = _pitched(world, pitch)
        obs.down = (0.0, float(np.cos(pitch)), float(np.sin(pitch)))   # as _pitched turns the world's down
    obs.world_landmarks = world
    return obs, posture, pitch


def _hand(side: str) -> list[int]:
    """The landmarks of the named side's hand (wrist, pinky, index, thumb)."""
    return list(HANDS[SIDES.index(side)])


def _standing_legs(uv: np.ndarray, vis: np.ndarray, outside: np.ndarray, seen: float = 0.0) -> list[str]:
    """The sides whose leg the photo shows standing in its plane: hip, knee and ankle inside the photo
    (and at least `seen` visible), the leg straight and at least STANDING_LEG torso lengths long (a thigh
    or shin pointing at the camera, or a seated person's, is shorter)."""
    torso_px = _torso_length(uv)
    sides = []
    for side in ("left", "right"):
        hip, knee, ankle = (LANDMARK[f"{side}_{p}"] for p in ("hip", "knee", "ankle"))
        leg = np.linalg.norm(uv[ankle] - uv[hip])
        bent = np.linalg.norm(uv[knee] - uv[hip]) + np.linalg.norm(uv[ankle] - uv[knee])
        if not outside[[hip, knee, ankle]].any() and vis[[knee, ankle]].min() >= seen \
                and leg >= STANDING_LEG * torso_px and leg >= STRAIGHT_LEG * bent:
            sides.append(side)
    return sides


def _a_step(uv: np.ndarray) -> bool:
    """Do two standing legs take a step: their ankles on rows more than STEP_ROWS torso lengths apart
    (the nearer foot stands lower in the photo)?"""
    ankles = uv[[LANDMARK["left_ankle"], LANDMARK["right_ankle"]], 1]
    return bool(abs(ankles[0] - ankles[1]) > STEP_ROWS * _torso_length(uv))


def _camera_pitch(world: np.ndarray, uv: np.ndarray, vis: np.ndarray, outside: np.ndarray) -> float:
    """How far the camera looks down (radians), from the legs the photo shows standing and clearly
    seen: BlazePose's depth is the camera's, so a standing leg's ankle shows behind its hip by the
    camera's pitch (photographers hold the camera above a person's middle), plus the small lean of
    a body at ease (REST_ANKLE_LEAN). Not from a step (two standing legs, their ankles on different
    rows), whose legs lean by its stride. USUAL_PITCH where no leg says; at most MAX_PITCH either way."""
    sides = _standing_legs(uv, vis, outside, SEEN)
    if not sides or (len(sides) == 2 and _a_step(uv)):
        return float(USUAL_PITCH)
    angles = [np.arctan2(*(world[LANDMARK[f"{side}_ankle"]] - world[LANDMARK[f"{side}_hip"]])[[2, 1]]) for side in sides]
    return float(np.clip(np.mean(angles) - REST_ANKLE_LEAN, -MAX_PITCH, MAX_PITCH))


def _pitched(world: np.ndarray, pitch: float) -> np.ndarray:
    """Hip-centred landmarks (y down, z away) as a camera pitched down by `pitch` more sees them:
    the world's down (0, 1, 0) goes to (0, cos, sin), away from the camera below the hips."""
    c, s = np.cos(pitch), np.sin(pitch)
    out = world.copy()
    out[:, 1], out[:, 2] = c * world[:, 1] - s * world[:, 2], s * world[:, 1] + c * world[:, 2]
    return out


def _level_seated_thighs(world: np.ndarray) -> bool:
    """A seated person's thighs rest level on the seat, where BlazePose slopes them ~30 degrees down
    (its hips sit higher on a bent hip, and the photo's perspective drops the knees nearer the camera;
    with wide trousers hiding the knees, 70 degrees, a crouch): with both knees in front of the hips
    and below them, each thigh is turned level at its length and its shin hangs straight down from
    the knee at its length (BlazePose's slanted back under the seat), the foot moving with it. Both
    are at least the usual share of the torso's length (SEATED_THIGH, SEATED_SHIN): in wide trousers
    BlazePose puts the knees halfway down the shins and shortens both. In place
    (True where it applied); world: y down, z away from the camera."""
    thighs = {side: world[LANDMARK[f"{side}_knee"]] - world[LANDMARK[f"{side}_hip"]] for side in ("left", "right")}
    if not all(-t[2] >= SEATED_KNEE and t[1] > 0 for t in thighs.values()):
        return False
    torso = _torso_length(world)
    for side, thigh in thighs.items():
        level = np.array([thigh[0], 0.0, thigh[2]])
        level *= max(np.linalg.norm(thigh), SEATED_THIGH * torso) / np.linalg.norm(level)
        world[[LANDMARK[f"{side}_knee"], *_foot(side)]] += level - thigh
        shin = world[LANDMARK[f"{side}_ankle"]] - world[LANDMARK[f"{side}_knee"]]
        down = np.array([shin[0], np.hypot(shin[1], shin[2]), 0.0])
        down *= max(np.linalg.norm(shin), SEATED_SHIN * torso) / np.linalg.norm(down)
        world[_foot(side)] += down - shin
    return True


def _kneeling_shins_on_the_floor(world: np.ndarray, uv: np.ndarray, seen: np.ndarray, outside: np.ndarray,
                                 mask: np.ndarray, trust: np.ndarray) -> bool:
    """A kneeling person's shins lie on the floor behind the knees: where both knees are seen with
    their rows within KNEE_ON_FLOOR of the mask's bottom under them, and BlazePose puts both ankles
    at least KNEEL_SHIN_BACK behind them, each shin is laid level at its length and heading, its
    foot on its top in line with it, the heel KNEEL_HEEL_UP above the ankle. The feet's photo
    positions, the detector's guesses behind the thighs, no longer pull (`trust` 0), and the caller
    leaves them where they are (`_feet_on_the_floor` pulled them down to the mask's bottom). With
    BlazePose's shins sloping up to the feet, the fitted toes went 4-6 cm through the floor.
    A thigh that BlazePose draws near the vertical (KNEEL_UPRIGHT_THIGH) stands upright, its knee
    under the hip in depth: BlazePose leans it 5-10 degrees towards the camera, as it does the torso,
    and the fitted knees stood 5-7 cm in front of the benchmark's. In place
    (True where it applied); world upright, y down, z away from the camera. The person's size is the
    height the landmarks in the photo span (`outside`: the others, guessed)."""
    size = float(np.ptp(uv[~outside, 1])) if (~outside).sum() >= 2 else 0.0
    knees = [LANDMARK["left_knee"], LANDMARK["right_knee"]]
    if seen[knees].min() < SEEN or size <= 0:
        return False
    for side in ("left", "right"):
        knee, ankle = LANDMARK[f"{side}_knee"], LANDMARK[f"{side}_ankle"]
        if world[ankle, 2] - world[knee, 2] < KNEEL_SHIN_BACK:
            return False
        floor = mask_bottom_row(mask, uv[knee, 0] - KNEE_BAND * size, uv[knee, 0] + KNEE_BAND * size)
        if floor is None or floor + 1.0 - uv[knee, 1] > KNEE_ON_FLOOR * size:
            return False
    for side in ("left", "right"):
        hip, knee, (ankle, heel, toe) = LANDMARK[f"{side}_hip"], LANDMARK[f"{side}_knee"], _foot(side)
        thigh = world[knee] - world[hip]
        if thigh[1] >= np.cos(KNEEL_UPRIGHT_THIGH) * np.linalg.norm(thigh):
            world[knee, 2] = world[hip, 2]
        shin = world[ankle] - world[knee]
        back = np.array([shin[0], 0.0, shin[2]]) / np.hypot(shin[0], shin[2])
        foot = float(np.linalg.norm(world[toe] - world[heel]))
        world[ankle] = world[knee] + float(np.linalg.norm(shin)) * back
        world[toe] = world[ankle] + foot * back
        world[heel] = world[ankle] - [0.0, KNEEL_HEEL_UP, 0.0]
        trust[[ankle, heel, toe]] = 0.0
    return True


def mask_bottom_row(mask: np.ndarray, u0: float, u1: float) -> int | None:
    """The mask's last row in the photo columns u0..u1 (clipped to the photo), None where it has none
    there or runs into the photo's bottom edge (what stands on the floor is cut off)."""
    h, w = mask.shape
    c0, c1 = max(int(u0), 0), min(int(np.ceil(u1)) + 1, w)
    rows = np.flatnonzero(mask[:, c0:c1].any(1)) if c1 > c0 else ()
    return None if not len(rows) or rows[-1] >= h - 1 else int(rows[-1])


def _legs_upright_in_depth(world: np.ndarray, uv: np.ndarray, vis: np.ndarray, outside: np.ndarray) -> None:
    """BlazePose leans legs back in depth: it puts a standing person's ankles 7-13 cm behind the
    knees, and hidden or trousered ankles 10-20 cm behind the hips, which leaned the whole fitted body
    forward over its feet.
    - A leg the photo shows standing in its plane (`_standing_legs`) stands upright: its knee and
      foot at its hip's depth. A walker's stride is set later from where the feet stand
      (body.stride.stride_depth).
    - Another leg whose shin the photo shows at full length (at least SHIN_UPRIGHT of its thigh's
      length: not a kneeling person's foreshortened shin) has its shin's backward lean, up to
      MAX_SHIN_LEAN, taken out.
    The foot moves with its ankle. In place; world upright (the camera's pitch taken out), z away
    from the camera."""
    standing = _standing_legs(uv, vis, outside)
    for side in ("left", "right"):
        hip, knee, ankle = (LANDMARK[f"{side}_{p}"] for p in ("hip", "knee", "ankle"))
        if side in standing:
            _stand_upright(world, side)
            continue
        thigh_px, shin_px = np.linalg.norm(uv[knee] - uv[hip]), np.linalg.norm(uv[ankle] - uv[knee])
        lean = world[ankle, 2] - world[knee, 2]
        if lean > 0 and shin_px >= SHIN_UPRIGHT * thigh_px:
            world[_foot(side), 2] -= min(lean, MAX_SHIN_LEAN)


def _stand_upright(world: np.ndarray, side: str) -> None:
    """The named side's leg stands upright in depth: its knee and foot at its hip's depth (the foot
    moving with its ankle). In place; world upright, z away from the camera."""
    hip, knee, ankle = (LANDMARK[f"{side}_{p}"] for p in ("hip", "knee", "ankle"))
    world[knee, 2] = world[hip, 2]
    world[_foot(side), 2] += world[hip, 2] - world[ankle, 2]


def _turned_further(world: np.ndarray, uv: np.ndarray, seen: np.ndarray, outside: np.ndarray) -> None:
    """A torso BlazePose reads as turned more than TURN_SEEN from the camera (the mean turn of its
    shoulders' and hips' lines, those in the photo) is turned further, by what it reads beyond
    TURN_SEEN up to TURN_SHORT, or to the face's turn (`_face_turn`) where that says more, the same
    way: all landmarks about the vertical through the hips' centre. The benchmark's person turned 30
    degrees was read as 21-26 and fitted as 18-25; its walker turned 25 degrees was read as 8-19 and
    its face as 26-36. In place; world upright, y down, z away from the camera; uv the photo's."""
    pairs = [(LANDMARK[f"left_{p}"], LANDMARK[f"right_{p}"]) for p in ("shoulder", "hip")]
    turns = [np.arctan2(world[a, 2] - world[b, 2], world[a, 0] - world[b, 0]) for a, b in pairs
             if not outside[[a, b]].any()]
    if not turns:
        return
    turn = float(np.mean(turns))
    more = np.sign(turn) * min(max(abs(turn) - TURN_SEEN, 0.0), TURN_SHORT)
    face = _face_turn(uv, seen, outside)
    if face is not None and abs(turn) >= TORSO_TURNED and np.sign(face) == np.sign(turn) \
            and abs(face) >= max(FACE_TURNED, abs(turn + more)):
        more = face - turn
    c, s = np.cos(more), np.sin(more)
    x, z = world[:, 0].copy(), world[:, 2].copy()
    world[:, 0], world[:, 2] = c * x - s * z, s * x + c * z


def _face_turn(uv: np.ndarray, seen: np.ndarray, outside: np.ndarray) -> float | None:
    """The torso's turn the face shows (radians, as `_turned_further` measures it: the person's left
    shoulder away from the camera is positive, and turns the nose to the photo's right): the nose's
    offset from the shoulders' centre across the photo, in shoulder widths, is NOSE_AHEAD times its
    tangent. None where the nose or a shoulder is not seen in the photo. A head turned on a torso
    facing the camera shows it too, which `_turned_further` rules out by BlazePose's torso."""
    points = [LANDMARK[name] for name in ("nose", "left_shoulder", "right_shoulder")]
    if outside[points].any() or (seen[points] < SEEN).any():
        return None
    nose, left, right = uv[points]
    width = abs(left[0] - right[0])
    if width <= 0:
        return None
    return float(np.arctan((nose[0] - (left[0] + right[0]) / 2) / width / NOSE_AHEAD))


def _hips_turned_as_the_shoulders(world: np.ndarray, outside: np.ndarray) -> None:
    """Hips below the photo's frame (a half-body portrait) turn as the shoulders in it do: BlazePose
    guesses their depths, 2-4 cm apart (the pelvis turned 12 degrees) where the shoulders it sees are
    level, and the fit, which starts turned as the world landmarks' torso is and has no seen hip to
    turn it back, kept the turn. The hips' depths are set about their mean, as far apart as the
    shoulders' in proportion to their widths. In place; world upright, z away from the camera."""
    hips = [LANDMARK["left_hip"], LANDMARK["right_hip"]]
    shoulders = [LANDMARK["left_shoulder"], LANDMARK["right_shoulder"]]
    if not outside[hips].all() or outside[shoulders].any():
        return
    widths = [abs(world[pair[0], 0] - world[pair[1], 0]) for pair in (hips, shoulders)]
    apart = (world[shoulders[0], 2] - world[shoulders[1], 2]) * widths[0] / max(widths[1], 1e-6)
    mean = world[hips, 2].mean()
    world[hips, 2] = mean + apart / 2, mean - apart / 2


def _feet_on_the_floor(uv: np.ndarray, outside: np.ndarray, mask: np.ndarray, world: np.ndarray) -> None:
    """Feet rest on the floor, where the mask ends under them: BlazePose puts feet it cannot see well
    (under wide trousers, behind a kneeling person's shins) 5-12 % of the person's size above the
    mask's bottom, where seen feet end 1-3 % above it, and the fitted body then floats (a seated person's
    soles 12 cm above the floor). A foot whose lowest landmark ends more than FLOOR_GAP above the
    mask's bottom in its own columns (`body.stride.sole_rows`: not where the feet share columns) is
    moved down to SOLE_GAP above it in the photo, ankle, heel and toe alike; not a raised foot (one
    the landmarks put RAISED_FOOT above the other). In place (uv: photo pixels)."""
    from ...body.stride import RAISED_FOOT, sole_rows

    inside = ~outside
    if inside.sum() < 2:
        return
    size = float(np.ptp(uv[inside], axis=0).max())
    rows = sole_rows(mask, uv, inside, size)
    ankles = world[[LANDMARK["left_ankle"], LANDMARK["right_ankle"]], 1]
    if abs(ankles[0] - ankles[1]) > RAISED_FOOT:
        return
    for side, row in zip(("left", "right"), rows):
        foot = _foot(side)
        gap = row - uv[foot[1:], 1].max()
        if np.isfinite(gap) and gap > FLOOR_GAP * size:
            uv[foot, 1] += gap - SOLE_GAP * size


def _flat_soles(world: np.ndarray, trust: np.ndarray) -> None:
    """A person standing still has both soles flat on the floor: each toe at its heel's height, at the
    heel-to-toe length and heading BlazePose gives (towards the camera where it gives none), and the
    toe's photo position pulls less (`trust` at most TOE_TRUST). The orthographic fit reads the toe's
    row, which the camera's height puts below the heel's for a foot pointing at it, as a foot
    pointing down: standing people came out on tiptoe (30 degrees, where a flat foot is 15), and
    their lowest point, the toes, shrank them to the given height. In place; world upright, y down."""
    for side in ("left", "right"):
        heel, toe = LANDMARK[f"{side}_heel"], LANDMARK[f"{side}_foot_index"]
        foot = world[toe] - world[heel]
        length = float(np.linalg.norm(foot))
        heading = np.array([foot[0], 0.0, foot[2]])
        level = float(np.linalg.norm(heading))
        heading = heading / level if level > 0.3 * length else np.array([0.0, 0.0, -1.0])
        world[toe] = world[heel] + length * heading
        trust[toe] = min(trust[toe], TOE_TRUST)


def _hands_on_lap(world: np.ndarray, uv: np.ndarray) -> None:
    """A seated person's hands, where the photo shows them over the lap (no higher than a little above
    the hips, and not beside the knees), rest on the thighs: each wrist LAP_HAND of the way from its
    hip to its knee in depth, its elbow LAP_ELBOW of that about the shoulder (BlazePose's and the
    shrunk arm depth put them beside the hips). In place; world: z away from the camera."""
    hips = _midpoint(uv, "hip")
    margin = LAP_MARGIN * _torso_length(uv)
    knees_u = sorted((uv[LANDMARK["left_knee"], 0], uv[LANDMARK["right_knee"], 0]))
    for side in ("left", "right"):
        wrist = uv[LANDMARK[f"{side}_wrist"]]
        if wrist[1] < hips[1] - margin or not knees_u[0] - margin <= wrist[0] <= knees_u[1] + margin:
            continue
        hip, knee = world[LANDMARK[f"{side}_hip"], 2], world[LANDMARK[f"{side}_knee"], 2]
        hand = _hand(side)
        world[hand, 2] += hip + LAP_HAND * (knee - hip) - world[hand[0], 2]
        shoulder = world[LANDMARK[f"{side}_shoulder"], 2]
        world[LANDMARK[f"{side}_elbow"], 2] = shoulder + LAP_ELBOW * (world[hand[0], 2] - shoulder)


def _shrink_arm_depth(world: np.ndarray) -> None:
    """BlazePose's elbow and wrist depth about the shoulder correlates only 0.2-0.4 and 0.0-0.2 with the
    truth (benchmarks/pose_depth.py): shrunk towards the shoulder's (ELBOW_DEPTH, HAND_DEPTH), it misses
    by less. A walker's arms are set by the stride instead (body.stride.arm_swing). In place."""
    for side in ("left", "right"):
        shoulder = world[LANDMARK[f"{side}_shoulder"], 2]
        for joints, share in (([LANDMARK[f"{side}_elbow"]], ELBOW_DEPTH), (_hand(side), HAND_DEPTH)):
            world[joints, 2] = shoulder + share * (world[joints, 2] - shoulder)
