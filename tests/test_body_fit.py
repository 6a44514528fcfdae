"""Fitting the body model to observations of a known body (synchuman.body.fit): the pose step's
33 landmarks in pixels, their metric 3D and the silhouette, made by projecting a posed body whose
shape and pose we know, so the fit is checked against the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synchuman.body.fit import FREE_BONES, BodyFitter
from synchuman.body.synthetic import observe
from synchuman.foreground.pose import LANDMARK

pytestmark = pytest.mark.slow  # shares the session's anny build with test_body_model.py


@pytest.fixture(scope="module")
def fitter(body_model):
    return BodyFitter(body_model)


def _pose(model, **angles) -> torch.Tensor:
    """Rotation vectors for the named bones (model frame axes, radians), zero elsewhere."""
    rot = torch.zeros(model.num_bones, 3)
    for bone, vec in angles.items():
        rot[model.bone(bone.replace("_L", ".L").replace("_R", ".R"))] = torch.tensor(vec)
    return rot


def _joint_errors(model, fit, truth) -> dict[str, float]:
    err = np.linalg.norm(fit.joints_camera - truth.joints_camera, axis=1)
    return {bone: float(err[model.bone(bone)]) for bone in FREE_BONES}


def test_fit_recovers_a_raised_knee_and_a_bent_elbow(body_model, fitter):
    pose = _pose(body_model, upperleg01_L=(-1.3, 0, 0), lowerleg01_L=(1.4, 0, 0), lowerarm01_R=(-1.2, 0, 0))
    truth = observe(body_model, [0.3, 0.6, 0.5, 0.6, 0.7, 0.4], pose, yaw_deg=20)
    fit = fitter.fit(truth.observation)
    errors = _joint_errors(body_model, fit, truth)
    assert max(errors.values()) < 0.04, {k: round(v * 100, 1) for k, v in errors.items()}
    assert fit.landmark_error_px < 4.0
    # The depth came back: the raised knee is well in front of the hips, as in the truth.
    knee = fit.joints_camera[body_model.bone("lowerleg01.L")]
    assert knee[2] < -0.2 and abs(knee[2] - truth.joints_camera[body_model.bone("lowerleg01.L"), 2]) < 0.04
    # A plausible body of the right size: the fitted height phenotype is near the true one.
    assert abs(fit.phenotype_dict()["height"] - 0.7) < 0.2


def test_fit_recovers_longer_thighs_and_shorter_shins(body_model):
    """The legs' segments' lengths are free within FitSettings.limb_range: a body whose thighs are
    8 % longer and shins 5 % shorter than its phenotype's is fitted with them, and the knees land
    where they are; with the lengths held, the knees and landmarks miss more."""
    from synchuman.body.fit import FitSettings

    pose = _pose(body_model, upperleg01_L=(-0.5, 0, 0), lowerleg01_L=(0.8, 0, 0))
    truth = observe(body_model, [0.5, 0.6, 0.5, 0.5, 0.6, 0.5], pose, yaw_deg=15, limb_scale=[1.08, 0.95])
    free = BodyFitter(body_model, FitSettings(limb_range=0.15)).fit(truth.observation)
    held = BodyFitter(body_model, FitSettings()).fit(truth.observation)
    assert held.limb_scale is None and np.allclose(free.limb_scale, [1.08, 0.95], atol=0.03), free.limb_scale
    knees = [body_model.bone("lowerleg01.L"), body_model.bone("lowerleg01.R")]
    miss = lambda fit: float(np.linalg.norm(fit.joints_camera[knees] - truth.joints_camera[knees], axis=1).max())  # noqa: E731
    assert miss(free) < 0.02 and miss(free) < 0.6 * miss(held), (miss(free), miss(held))
    assert free.landmark_error_px < held.landmark_error_px
    truth.observation.legs_measured = False   # no ankle seen: nothing to measure the legs to
    assert BodyFitter(body_model, FitSettings(limb_range=0.15)).fit(truth.observation).limb_scale is None


def test_a_fit_still_converging_goes_on_and_a_settled_one_stops(body_model):
    """FitSettings.extra_iterations: a pose far from the start (knees folded back, kneeling) is still
    converging when the iterations run out, so the fit goes on, closer to the truth; a settled fit
    (standing, arms down) ends where it would have without them, to the bit."""
    from synchuman.body.fit import FitSettings

    def fit(truth, extra):
        return BodyFitter(body_model, FitSettings(iterations=25, extra_iterations=extra)).fit(truth.observation)

    kneeling = observe(body_model, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
                       _pose(body_model, lowerleg01_L=(2.0, 0, 0), lowerleg01_R=(2.0, 0, 0), upperleg01_L=(-0.2, 0, 0)),
                       yaw_deg=30)
    short, extended = fit(kneeling, 0), fit(kneeling, 40)
    assert "extra_iterations" not in short.losses and extended.losses["extra_iterations"] == 1.0
    assert extended.losses["evaluations"] > short.losses["evaluations"]
    miss = lambda f: max(_joint_errors(body_model, f, kneeling).values())  # noqa: E731
    assert miss(extended) < 0.7 * miss(short), (miss(extended), miss(short))

    standing = observe(body_model, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], _pose(body_model), yaw_deg=10)
    settled, allowed = fit(standing, 0), fit(standing, 40)
    assert "extra_iterations" not in allowed.losses and np.array_equal(settled.rotations, allowed.rotations)


def test_fit_keeps_the_body_inside_a_wider_clothed_silhouette(body_model, fitter):
    """Clothes widen the mask; the body must stay itself (not swell to fill it) and inside it."""
    import cv2

    pose = _pose(body_model, upperarm01_L=(0, -0.5, 0), upperarm01_R=(0, 0.5, 0), lowerleg01_R=(0.6, 0, 0))
    truth = observe(body_model, [0.6, 0.5, 0.5, 0.5, 0.5, 0.5], pose)
    clothed = cv2.dilate(truth.observation.mask.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    truth.observation.mask = clothed
    fit = fitter.fit(truth.observation)
    errors = _joint_errors(body_model, fit, truth)
    assert max(errors.values()) < 0.04, {k: round(v * 100, 1) for k, v in errors.items()}
    _, px = fitter.project(fit)
    h, w = clothed.shape
    inside = clothed[np.clip(np.floor(px[:, 1]).astype(int), 0, h - 1), np.clip(np.floor(px[:, 0]).astype(int), 0, w - 1)]
    assert inside.mean() > 0.99


def test_fit_without_depth_or_mask_still_fits_the_photo(body_model, fitter):
    """2D landmarks only (no world landmarks, no mask): the projection must match the photo and an
    arm raised sideways, in the image plane, must come back."""
    pose = _pose(body_model, upperarm01_L=(0, -1.0, 0), lowerarm01_L=(0, -0.5, 0))
    truth = observe(body_model, [0.5] * 6, pose)
    truth.observation.world_landmarks = None
    truth.observation.mask = None
    fit = fitter.fit(truth.observation)
    assert fit.landmark_error_px < 4.0
    wrist = body_model.bone("wrist.L")
    assert np.linalg.norm(fit.joints_camera[wrist, :2] - truth.joints_camera[wrist, :2]) < 0.03
    assert np.all(np.isfinite(fit.rotations)) and np.abs(fit.rotations).max() < math.pi


def test_observation_from_the_pose_steps_person_pose(body_model, fitter):
    """The pose step's PersonPose (as written to views/pose.json) feeds the fit unchanged."""
    from synchuman.foreground.pose import PersonPose
    from synchuman.body.fit import PoseObservation

    truth = observe(body_model, [0.5] * 6, _pose(body_model, lowerarm01_L=(-1.0, 0, 0)))
    o = truth.observation
    image = np.concatenate([o.landmarks_px, o.visibility[:, None], np.ones((33, 1))], 1).astype(np.float32)
    pose = PersonPose.from_json(PersonPose(image=image, world_m=o.world_landmarks.astype(np.float32),
                                           box=(0, 0, 1024, 1024)).to_json())
    fit = fitter.fit(PoseObservation.from_person_pose(pose, mask=o.mask))
    assert fit.landmark_error_px < 4.0
    errors = _joint_errors(body_model, fit, truth)
    assert max(errors.values()) < 0.04, {k: round(v * 100, 1) for k, v in errors.items()}


def test_fit_of_a_half_body_ignores_the_invisible_legs(body_model, fitter):
    pose = _pose(body_model, lowerarm01_L=(-1.0, 0, 0))
    truth = observe(body_model, [0.5] * 6, pose)
    truth.observation.visibility[25:] = 0.0  # knees, ankles, feet out of frame
    truth.observation.landmarks_px[25:] = 0.0  # whatever the detector guessed there
    truth.observation.world_landmarks[25:] = 5.0
    truth.observation.mask = None
    fit = fitter.fit(truth.observation)
    errors = _joint_errors(body_model, fit, truth)
    upper = [b for b in FREE_BONES if not b.startswith(("lowerleg", "foot"))]
    assert max(errors[b] for b in upper) < 0.04, {b: round(errors[b] * 100, 1) for b in upper}


def test_posed_body_places_the_model_and_round_trips_through_the_job_folder(body_model, tmp_path):
    from synchuman.body.posed import PosedBody

    pose = _pose(body_model, lowerarm01_L=(-1.0, 0, 0))
    phen = np.array([0.2, 0.5, 0.5, 0.5, 0.5, 0.5])
    out = body_model(torch.as_tensor(phen, dtype=torch.float32)[None], pose[None])
    t = np.eye(4)
    t[:3, :3] = 2.0 * np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # z up -> y up, doubled
    t[:3, 3] = [0.1, 0.2, 0.3]
    body = PosedBody.from_model(body_model, phen, pose.numpy(), t, source="test", facts={"warnings": ["w"]})
    expected = 2.0 * out.joints[0].double().numpy() @ np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]).T + [0.1, 0.2, 0.3]
    assert np.abs(body.joints - expected).max() < 1e-5
    assert body.scale == pytest.approx(2.0)
    # Bone orientations stay rotations after the similarity.
    assert np.abs(np.linalg.det(body.bone_rotations) - 1).max() < 1e-4
    body.mesh_to_body = np.arange(10)
    js, npz = body.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body.json", "body.npz"]
    again = PosedBody.load(tmp_path)
    assert np.abs(again.vertices - body.vertices).max() < 1e-5
    assert again.bone_labels == body_model.bone_labels and again.facts == {"warnings": ["w"]}
    assert again.mesh_to_body.tolist() == list(range(10))
    js.write_text(js.read_text().replace("synchuman.body/1", "other"))
    with pytest.raises(ValueError, match="not a synchuman.body/1"):
        PosedBody.load(tmp_path)


def test_a_stride_is_read_from_where_the_feet_stand(body_model):
    """Seen through a pinhole camera, a foot further away stands higher in the photo. The landmarks'
    own depth compresses a stride to about a third (here: exactly, as MediaPipe's does); with the
    photo's focal length the fit reads the depth between the feet from the rows where the mask ends
    under them (fit.stride_depth) and recovers the stride, which it cannot without."""
    from synchuman.body.fit import FitSettings
    from synchuman.body.stride import sole_rows

    # thighs 20 degrees forward and back, straight knees: the front foot touches down on its heel, toes
    # up, the rear one stands flat on the floor behind, as in a walking step (the soles' rows see the
    # front heel and the rear toe, whose depths differ by the stride less a foot's length)
    step = 0.35
    pose = _pose(body_model, upperleg01_L=(-step, 0, 0), upperleg01_R=(step, 0, 0), foot_R=(-step, 0, 0))
    truth = observe(body_model, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], pose, scale=300.0, focal_px=1200.0)
    truth.observation.world_landmarks[:, 2] /= 3.0
    ankle = lambda joints: joints[body_model.bone("foot.R"), 2] - joints[body_model.bone("foot.L"), 2]  # noqa: E731
    true_stride = ankle(truth.joints_camera)
    assert true_stride > 0.25  # the left foot steps towards the camera

    obs = truth.observation
    rows = sole_rows(obs.mask, obs.landmarks_px, obs.visibility > 0.5, 700.0)
    assert np.isfinite(rows).all() and rows[0] > rows[1] + 10  # the nearer foot stands lower in the photo

    plain = BodyFitter(body_model).fit(obs)
    assert abs(ankle(plain.joints_camera) - true_stride) > 0.12  # without it, the compressed depth wins
    # the preview's settings (an orthographic fit) and a fit through the pinhole camera
    for perspective in (False, True):
        settings = FitSettings(stride_from_ground=True, perspective=perspective)
        ground = BodyFitter(body_model, settings).fit(obs)
        assert -ground.losses["stride_m"] == pytest.approx(true_stride, abs=0.08)  # left minus right
        assert abs(ankle(ground.joints_camera) - true_stride) < 0.08, (perspective, ankle(ground.joints_camera))
        assert ground.inverse_distance == (pytest.approx(300.0 / 1200.0, rel=0.1) if perspective else 0.0)


def test_a_step_set_between_the_feet_bends_both_knees():
    """`step_apart` sets the ankles a stride apart in depth about their mean; each knee goes half its
    foot's way, as on a straight leg, and KNEE_BEND further towards the camera: in a step with both
    feet down both knees are bent (over the benchmark's walkers, 14 of 15 came out closer to the truth,
    docs/benchmarks.md)."""
    from synchuman.body.stride import ANKLES, FEET, KNEE_BEND, LEG_KNEES, step_apart

    world = np.zeros((33, 3))   # standing straight: hips, knees and feet at one depth
    world[list(LEG_KNEES), 1], world[list(FEET[0] + FEET[1]), 1] = 0.45, 0.85
    step_apart(world, -0.4)   # the left foot 0.4 m nearer the camera than the right
    assert world[ANKLES[0], 2] == pytest.approx(-0.2) and world[ANKLES[1], 2] == pytest.approx(0.2)
    assert (world[list(FEET[0]), 2] == world[ANKLES[0], 2]).all() and (world[list(FEET[1]), 2] == world[ANKLES[1], 2]).all()
    for side in (0, 1):   # in front of the line from the hip (depth 0) to the ankle, at the knee's height
        line = world[ANKLES[side], 2] * 0.45 / 0.85
        assert world[LEG_KNEES[side], 2] == pytest.approx(world[ANKLES[side], 2] / 2 - KNEE_BEND)
        assert world[LEG_KNEES[side], 2] < line - 0.02


def test_a_step_is_a_depth_beyond_the_hips_not_a_share_of_the_height():
    """`stride_depth` reads a step where the soles' depths differ by MIN_STEP more than the hips' do. A
    small walker far back (170 px a metre, 0.2 m between the feet in depth) shows her feet 7 px, 2.3 %
    of her 300 px apart, under the 3 % share the step once had to reach; she steps. A person turned
    from the camera stands with one foot behind the other as her hips are: 0.14 m apart (31 px, 3.5 %
    of 900), the hips 0.1, and she does not; facing the camera, 0.1 m is no step (hips turned the other
    way do not make it one), nor are rows 3 px apart."""
    from synchuman.body.stride import ANKLES, HIPS, MIN_STEP, MIN_STEP_PX, STEP_CONTACT, stride_depth

    centre, hips_row, floor, focal = 512.0, 600.0, 0.9, 1200.0

    def rows(scale, near, far):   # the soles' rows of feet `near` and `far` metres behind the hips
        return np.array([centre + (hips_row - centre + scale * floor) / (1 + t * scale / focal) for t in (near, far)])

    def read(soles, scale, hips_dz=0.0):
        world = torch.zeros(33, 3)
        world[list(ANKLES), 1] = 0.9
        world[HIPS[0], 2], world[HIPS[1], 2] = hips_dz / 2, -hips_dz / 2
        return stride_depth(world, soles, scale, hips_row, focal, floor, centre)

    small = rows(170.0, -0.1, 0.1)
    assert MIN_STEP_PX <= small[0] - small[1] < 0.03 * 300   # a share of 3 % would leave her feet together
    world, stride = read(small, 170.0)
    assert stride == pytest.approx(-0.2 - STEP_CONTACT, abs=0.01)   # the left foot nearer
    assert float(world[ANKLES[0], 2] - world[ANKLES[1], 2]) == pytest.approx(stride, abs=1e-4)

    turned = rows(500.0, 0.07, -0.07)   # the left foot 0.14 m further back, as the left hip (0.1 m)
    assert read(turned, 500.0, hips_dz=0.10)[1] is None
    assert turned[1] - turned[0] > 0.03 * 900
    assert read(rows(500.0, 0.05, -0.05), 500.0)[1] is None and 0.1 < MIN_STEP   # facing: side by side
    assert read(rows(500.0, 0.05, -0.05), 500.0, hips_dz=-0.05)[1] is None
    assert read(rows(500.0, 0.11, -0.11), 500.0, hips_dz=0.0)[1] is not None   # 0.22 m: a step
    assert read(rows(500.0, 0.11, -0.11), 500.0, hips_dz=0.12)[1] is None       # ... 0.1 beyond the hips
    near = rows(170.0, -0.05, 0.05)
    assert near[0] - near[1] < MIN_STEP_PX and read(near, 170.0)[1] is None


def test_the_soles_rows_of_feet_close_in_the_photo_are_read_apart():
    """A walker coming towards the camera has her feet nearly in line: each foot's band (SOLE_BAND of
    the size beside its landmarks) reaches into the other's columns. The bands end at the middle of
    the gap between the feet's landmarks, so each reads the bottom of its own shoe (seed 1's ball
    walker: 45 px apart, bands of 27 px, no stride read before); feet sharing columns stay unread."""
    from synchuman.body.stride import sole_rows
    from synchuman.foreground.pose import FEET

    mask = np.zeros((400, 300), bool)
    mask[100:330, 100:140] = True     # the left leg, its shoe ending at row 330
    mask[100:300, 155:190] = True     # the right leg, its foot further off, ending at row 300
    uv = np.zeros((33, 2))
    for side, (u, bottom) in enumerate(((120.0, 328.0), (172.0, 298.0))):
        uv[list(FEET[side])] = [[u, bottom - 20], [u - 4, bottom - 6], [u + 4, bottom - 2]]
    seen = np.ones(33, bool)
    assert sole_rows(mask, uv, seen, 1000.0) == pytest.approx([330.0, 300.0])   # bands of 30 px overlap
    uv[list(FEET[1]), 0] -= 50.0                                  # the right foot under the left
    assert np.isnan(sole_rows(mask, uv, seen, 1000.0)).all()
    uv[list(FEET[1]), 0] += 50.0
    # a foot facing the camera hides its heel: MediaPipe sees it at 0.45 where it sees the ankle and
    # toes (seed 8's walker in a coat: her stride was not read, 45.1 mm; read, 29.2)
    seen[[FEET[0][1], FEET[1][1]]] = False
    assert sole_rows(mask, uv, seen, 1000.0) == pytest.approx([330.0, 300.0])
    seen[FEET[1][2]] = False                                      # the right foot's toes not seen: unread
    rows = sole_rows(mask, uv, seen, 1000.0)
    assert rows[0] == pytest.approx(330.0) and np.isnan(rows[1])


def test_a_step_is_read_only_where_the_feet_themselves_step():
    """Seed 7's watermarked coat, standing with arms out: its mask, completed by colour, ended 3.4 % of
    the person's size lower under one shoe than under the other, whose bottom it had lost, while the
    heels and toes stood within 1 %; the fit read a 0.4 m stride and swung the arms. The mask's step
    counts only where the feet's own landmarks step the same way."""
    from synchuman.body.stride import MIN_LANDMARK_STEP, shown_by_the_feet
    from synchuman.foreground.pose import FEET

    size = 800.0
    uv = np.zeros((33, 2))
    for side, bottom in enumerate((905.0, 897.0)):   # heels and toes 8 px apart: standing
        uv[list(FEET[side]), 1] = [bottom - 40, bottom - 5, bottom]
    soles = np.array([935.0, 908.0])                  # the mask: 27 px apart
    assert np.isnan(shown_by_the_feet(soles, uv, size)).all()
    uv[list(FEET[0]), 1] += 2 * MIN_LANDMARK_STEP * size   # the left foot stepping towards the camera
    assert shown_by_the_feet(soles, uv, size) == pytest.approx(soles)
    assert np.isnan(shown_by_the_feet(soles[::-1].copy(), uv, size)).all()   # the mask says the other foot
    assert np.isnan(shown_by_the_feet(np.array([np.nan, 908.0]), uv, size)).any()


def test_feet_up_the_shins_unseen_leave_the_step_to_the_mask():
    """Seed 6's walking coat: dark shoes over pebbles, and MediaPipe put both feet up the shins, 7 % of
    the size above the soles, level, with visibility 0.2-0.4; the mask's soles stepped 3.6 %. Seen feet
    whose landmarks stand level deny the mask's step; feet seen by neither landmark leave it to the
    mask."""
    from synchuman.body.stride import standing_soles
    from synchuman.foreground.pose import FEET

    mask = np.zeros((1000, 800), bool)
    mask[500:953, 540:600] = True     # the left leg, its shoe ending at row 953
    mask[500:922, 440:500] = True     # the right leg, ending 31 px higher
    uv = np.zeros((33, 2))
    for side, u in enumerate((570.0, 468.0)):
        uv[list(FEET[side])] = [[u, 840.0], [u - 5, 862.0], [u + 5, 866.0]]
    seen = np.ones(33, bool)
    assert np.isnan(standing_soles(mask, uv, seen, 850.0)).all()           # seen and level: no step
    seen[list(FEET[0]) + list(FEET[1])] = False
    assert standing_soles(mask, uv, seen, 850.0) == pytest.approx([953.0, 922.0])
    seen[list(FEET[1])] = True                                             # one foot seen: the other
    assert np.isnan(standing_soles(mask, uv, seen, 850.0)[0])              # unread, so no step


def test_a_walking_persons_arms_swing_against_the_legs(body_model):
    """MediaPipe's depth for the elbows and wrists carries almost no information
    (benchmarks/pose_depth.py). Where the stride was read from the feet, `arm_swing` swings each hand
    against its own foot about its shoulder (the elbow half as far), and the fit recovers which hand
    is ahead, which it cannot from depth-less arms. The forward swing is a least reach: the hand
    ahead reaches as far as its foreshortened arm shows, here six times the swing. (The hand
    behind, its elbow bent forward at the model's rest, ends 16-19 cm too far back, with or without
    a least reach on it: the swing only tells the hands apart.)"""
    from synchuman.body.fit import TORSO, FitSettings
    from synchuman.body.stride import ANKLES, ARM_ELBOWS, SWING, arm_swing
    from synchuman.foreground.pose import HANDS

    step = 0.35  # the left foot forward, the right arm forward: a step
    pose = _pose(body_model, upperleg01_L=(-step, 0, 0), upperleg01_R=(step, 0, 0), foot_R=(-step, 0, 0),
                 upperarm01_L=(0.4, 0.85, 0), upperarm01_R=(-0.4, -0.85, 0))   # hanging arms, swung
    truth = observe(body_model, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], pose, scale=300.0, focal_px=1200.0)
    hands = lambda joints: joints[body_model.bone("wrist.R"), 2] - joints[body_model.bone("wrist.L"), 2]  # noqa: E731
    true_hands = hands(truth.joints_camera)
    assert true_hands < -0.2  # the right hand is ahead

    obs = truth.observation
    world = obs.world_landmarks
    world[23:, 2] /= 3.0  # the legs' depth compressed, as MediaPipe's is
    for side in (0, 1):  # the arms' depth: none (at the shoulder's)
        world[list(HANDS[side]) + [ARM_ELBOWS[side]], 2] = world[TORSO[side], 2]

    swung, way = arm_swing(torch.as_tensor(world))
    swung = swung.numpy()
    ahead = list(HANDS[1]) + [ARM_ELBOWS[1]]
    assert (way[ahead] == -1).all() and (np.delete(way.numpy(), ahead) == 0).all()  # the right arm swings forward
    feet = world[list(ANKLES), 2]
    for side in (0, 1):
        swing = -SWING * (feet[side] - feet.mean())
        assert swung[HANDS[side], 2] == pytest.approx(world[TORSO[side], 2] + swing, abs=1e-6)
        assert swung[ARM_ELBOWS[side], 2] == pytest.approx(world[TORSO[side], 2] + swing / 2, abs=1e-6)
    assert np.array_equal(swung[:13], world[:13]) and np.array_equal(swung[23:], world[23:])

    plain = BodyFitter(body_model, FitSettings(stride_from_ground=True, perspective=False)).fit(obs)
    swinging = BodyFitter(body_model, FitSettings(stride_from_ground=True, perspective=False, arm_swing=True)).fit(obs)
    assert abs(hands(plain.joints_camera) - true_hands) > 0.15, hands(plain.joints_camera)
    assert hands(swinging.joints_camera) < -0.15, hands(swinging.joints_camera)  # the right hand ahead
    wrist, shoulder = body_model.bone("wrist.R"), body_model.bone("upperarm01.R")
    reach = truth.joints_camera[wrist, 2] - truth.joints_camera[shoulder, 2]
    assert reach < 5 * (swung[HANDS[1][0], 2] - swung[TORSO[1], 2]) < 0  # far beyond the swing
    assert np.linalg.norm(swinging.joints_camera[wrist] - truth.joints_camera[wrist]) < 0.05
    assert swinging.losses["arm_swing"] == 1.0 and "arm_swing" not in plain.losses


def test_arms_that_do_not_hang_do_not_swing():
    """A stride swings hanging arms only: arms crossed over the chest (seed 21's, swung by a false
    stride read where the mask ran on under one shoe) or held out keep their depth."""
    from synchuman.body.stride import ANKLES, ARM_ELBOWS, HANGING, SHOULDERS, arm_swing, hangs
    from synchuman.foreground.pose import HANDS

    world = np.zeros((33, 3), np.float32)  # metres about the hips, y down, z away from the camera
    world[list(SHOULDERS)] = [[0.18, -0.45, 0.0], [-0.18, -0.45, 0.0]]
    world[list(ARM_ELBOWS)] = [[0.21, -0.17, 0.0], [-0.21, -0.17, 0.0]]
    world[list(HANDS[0])] = [0.22, 0.09, 0.0]    # the left arm hangs
    world[list(HANDS[1])] = [0.02, -0.2, -0.2]   # the right forearm lies across the chest
    world[ANKLES[0], 2], world[ANKLES[1], 2] = -0.2, 0.2   # the left foot ahead
    assert hangs(world, 0) and not hangs(world, 1)

    swung, way = (a.numpy() for a in arm_swing(torch.as_tensor(world)))
    assert swung[HANDS[0][0], 2] == pytest.approx(0.1) and swung[ARM_ELBOWS[0], 2] == pytest.approx(0.05)  # back
    right = list(HANDS[1]) + [ARM_ELBOWS[1]]
    assert np.array_equal(swung[right], world[right]) and not way.any()
    # a wrist just HANGING of the upper arm below its elbow hangs; just above it, not
    upper = float(np.linalg.norm(world[ARM_ELBOWS[1]] - world[SHOULDERS[1]]))
    world[HANDS[1][0]] = world[ARM_ELBOWS[1]] + [0.0, HANGING * upper + 1e-3, 0.0]
    assert hangs(world, 1)
    world[HANDS[1][0], 1] -= 2e-3
    assert not hangs(world, 1)


def _elbow_bend_deg(model, joints: np.ndarray, side: str) -> float:
    shoulder, elbow, wrist = (joints[model.bone(f"{bone}.{side}")] for bone in ("upperarm01", "lowerarm01", "wrist"))
    upper, fore = elbow - shoulder, wrist - elbow
    return math.degrees(math.acos(upper @ fore / np.linalg.norm(upper) / np.linalg.norm(fore)))


def test_a_forearm_no_landmark_speaks_for_hangs_on_from_its_upper_arm(body_model):
    """Below a half-body photo's frame the hands are unseen (their landmarks carry no weight), and
    nothing else says where the forearms go. The model's rest pose bends the elbow 42 degrees, and a
    prior towards rest kept that bend, which the upper arms, turned down, pointed at the camera. With
    `weight_hanging_elbow` such a forearm hangs on from its upper arm, bent HANGING_ELBOW_BEND; a
    forearm whose hand is seen keeps the bend the photo shows."""
    from synchuman.body.fit import HANGING_ELBOW_BEND, FitSettings

    truth = observe(body_model, [0.5] * 6, _pose(body_model, upperarm01_L=(0, 0.85, 0), upperarm01_R=(0, -0.85, 0)))
    for side in ("L", "R"):
        assert _elbow_bend_deg(body_model, truth.joints_camera, side) > 40   # the rest pose's bend
    half = truth.observation
    left_hand = [LANDMARK[f"left_{point}"] for point in ("wrist", "pinky", "index", "thumb")]   # below the frame
    half.visibility[left_hand] = 0.0
    half.mask = None
    rested = BodyFitter(body_model, FitSettings()).fit(half)
    hanging = BodyFitter(body_model, FitSettings(weight_hanging_elbow=1e-2)).fit(half)
    assert _elbow_bend_deg(body_model, rested.joints_camera, "L") > 40
    assert _elbow_bend_deg(body_model, hanging.joints_camera, "L") == pytest.approx(math.degrees(HANGING_ELBOW_BEND), abs=3)
    # the seen right arm keeps its bend, and the upper arms stay where the photo shows them
    assert _elbow_bend_deg(body_model, hanging.joints_camera, "R") > 40
    errors = _joint_errors(body_model, hanging, truth)
    assert max(errors[b] for b in FREE_BONES if b not in ("lowerarm01.L", "wrist.L")) < 0.04, errors
    forearm = hanging.joints_camera[body_model.bone("wrist.L")] - hanging.joints_camera[body_model.bone("lowerarm01.L")]
    assert forearm[1] > 0.8 * np.linalg.norm(forearm)   # down (camera y is down)


def _leg_tilts_deg(model, joints: np.ndarray, down: np.ndarray) -> list[float]:
    """Per side (L, R), the thigh's and the shin's angles to `down`."""
    tilts = []
    for side in ("L", "R"):
        hip, knee, ankle = (joints[model.bone(f"{bone}.{side}")] for bone in ("upperleg01", "lowerleg01", "foot"))
        for a, b in ((hip, knee), (knee, ankle)):
            tilts.append(math.degrees(math.acos(np.clip((b - a) @ down / np.linalg.norm(b - a), -1, 1))))
    return tilts


def test_legs_no_landmark_speaks_for_stand_upright_in_the_world(body_model):
    """Below a half-body photo's frame the legs are unseen, and the fit completes them. Held near the
    model's rest pose they splay 6-7 degrees off the vertical and followed the pelvis (the benchmark's
    half-body people: feet 44 cm apart and 8 cm forward, where they stand 21 cm apart under the
    hips). With `weight_unseen_standing` their thighs and shins point down the world's vertical
    (`PoseObservation.down`, here a camera looking 8 degrees down), whatever the torso does; the
    seen upper body is fitted as before."""
    from synchuman.body.fit import LEGS, FitSettings

    pitch = math.radians(8.0)
    down = np.array([0.0, math.cos(pitch), math.sin(pitch)])
    truth = observe(body_model, [0.5] * 6, _pose(body_model, upperarm01_L=(0, 0.85, 0), upperarm01_R=(0, -0.85, 0)))
    half = truth.observation
    legs = [LANDMARK[f"{side}_{point}"] for side in ("left", "right")
            for point in ("knee", "ankle", "heel", "foot_index")]
    half.visibility[legs] = 0.0
    half.mask = None
    half.down = tuple(down)
    rested = BodyFitter(body_model, FitSettings(weight_unseen_prior=1e-2)).fit(half)
    standing = BodyFitter(body_model, FitSettings(weight_unseen_prior=1e-2, weight_unseen_standing=0.1)).fit(half)
    assert max(_leg_tilts_deg(body_model, rested.joints_camera, down)) > 6
    assert max(_leg_tilts_deg(body_model, standing.joints_camera, down)) < 3
    # the feet stand under the hips, and the seen upper body is where the photo shows it
    for side in ("L", "R"):
        hip, ankle = (standing.joints_camera[body_model.bone(f"{bone}.{side}")] for bone in ("upperleg01", "foot"))
        assert abs(ankle[0] - hip[0]) < 0.04
    errors = _joint_errors(body_model, standing, truth)
    assert max(errors[b] for b in FREE_BONES if b not in LEGS) < 0.04, errors


def test_a_foot_guessed_up_the_shin_finds_the_mask_s_end_one_pixel_either_way():
    """Under wide trousers BlazePose guesses both feet up the shins, up to 14 % of the person's size
    above the mask's end over the benchmark's photos. The window that looks for that end (SOLE_REACH)
    reaches well past them, so a pixel more or less of mask moves the row by that pixel and does not
    make it unread (at 12 % seed 9's person beside a dog went from read to "runs on" with one pixel);
    a mask that runs on past the window (a shadow, the photo's edge) stays unread."""
    from synchuman.body.stride import SOLE_REACH, sole_rows
    from synchuman.foreground.pose import FEET

    size = 800.0
    mask = np.zeros((1100, 800), bool)
    mask[300:949, 380:480] = True     # the right trouser leg, ending at row 949
    mask[300:949, 520:620] = True     # the left one
    uv = np.zeros((33, 2))
    for side, u in enumerate((570.0, 430.0)):   # guessed 0.12 of the size up the shins
        uv[list(FEET[side])] = [[u, 830.0], [u - 8, 846.0], [u + 8, 853.0]]
    seen = np.ones(33, bool)
    assert sole_rows(mask, uv, seen, size) == pytest.approx([949.0, 949.0])
    mask[949, 380:620] = True          # one pixel more of mask
    assert sole_rows(mask, uv, seen, size) == pytest.approx([950.0, 950.0])
    mask[949:int(853 + SOLE_REACH * size) + 2, 520:620] = True   # the left leg's mask runs on past the window
    rows = sole_rows(mask, uv, seen, size)
    assert np.isnan(rows[0]) and rows[1] == pytest.approx(950.0)
