"""The rig module on the real body model: the skeleton, the collapsed and transferred weights (garments,
hair, sides), the fit to a mesh from a photo's landmarks, rest poses, warnings and the GLB skin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synchuman.body import load_body_model
from synchuman.body.posed import PosedBody
from synchuman.body.synthetic import observe
from synchuman.engines.base import ReconstructSettings
from synchuman.errors import SyncHumanError
from synchuman.export.glb import read_glb_json, write_glb
from synchuman.foreground.pose import PersonPose
from synchuman.rig import BONE_NAMES, rig_result
from synchuman.rig.repose import pose_artefacts
from synchuman.rig.skeleton import BONES, MIXAMO_NAMES, RIGIFY_NAMES, body_bone_map, collapse_weights, renamed
from synchuman.rig.weights import lazy_walk, weld_adjacency

# Model frame (z up, facing -y) -> output frame (y up, facing +z), feet near 0.
TO_OUTPUT = np.eye(4)
TO_OUTPUT[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
TO_OUTPUT[1, 3] = 0.87


@pytest.fixture(scope="module")
def model():
    return load_body_model()


@pytest.fixture(scope="module")
def body(model):
    return PosedBody.from_model(model, np.full(6, 0.5), np.zeros((model.num_bones, 3)), TO_OUTPUT, "test")


@pytest.fixture(scope="module")
def rigged(body, model):
    return rig_result(body.vertices, body.faces, body=body, model=model)


def test_bone_table_names_and_mapping(model):
    assert 50 <= len(BONE_NAMES) <= 70 and len(set(BONE_NAMES)) == len(BONE_NAMES)
    for table in (MIXAMO_NAMES, RIGIFY_NAMES):
        assert set(table) == set(BONE_NAMES) and len(set(table.values())) == len(BONE_NAMES)
    assert renamed(["hips", "upper_arm.L", "index_02.R"], "mixamo") == \
        ["mixamorig:Hips", "mixamorig:LeftArm", "mixamorig:RightHandIndex2"]
    assert renamed(["hips", "thumb_01.L", "clavicle.R"], "rigify") == ["spine", "thumb.01.L", "shoulder.R"]
    owner = body_bone_map(model.bone_labels, model.bone_parents)
    for body_bone, ours in (("upperarm02.L", "upper_arm.L"), ("metacarpal3.R", "hand.R"), ("spine03", "spine"),
                            ("toe2-3.L", "toe.L"), ("neck02", "neck"), ("shoulder01.L", "clavicle.L"),
                            ("pelvis.R", "hips"), ("finger2-2.L", "index_02.L")):
        assert BONE_NAMES[owner[model.bone(body_bone)]] == ours, body_bone
    weights = collapse_weights(model.skin_weights.numpy(), owner, len(BONE_NAMES))
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-5)


def test_skeleton_runs_along_the_limbs(rigged, body, model):
    sk = rigged.skeleton
    joints = dict(zip(body.bone_labels, body.joints))
    np.testing.assert_allclose(sk.heads[sk.index("upper_arm.L")], joints["upperarm01.L"], atol=1e-9)
    for bone, start, end in (("upper_arm.L", "upperarm01.L", "lowerarm01.L"), ("shin.R", "lowerleg01.R", "foot.R")):
        along = joints[end] - joints[start]
        np.testing.assert_allclose(sk.tails[sk.index(bone)], joints[end], atol=1e-9)
        np.testing.assert_allclose(sk.axes[sk.index(bone)][:, 1], along / np.linalg.norm(along), atol=1e-6)
    np.testing.assert_allclose(sk.axes @ sk.axes.transpose(0, 2, 1), np.tile(np.eye(3), (sk.count, 1, 1)), atol=1e-6)
    assert np.allclose(np.linalg.det(sk.axes), 1.0)
    lengths = np.linalg.norm(sk.tails - sk.heads, axis=1)
    assert lengths.min() > 0.005 and 0.1 < lengths[sk.index("head")] < 0.3  # end bones reach their vertices
    assert [sk.names[p] if p >= 0 else None for p in sk.parents[:3]] == [None, "hips", "spine"]


def test_weights_on_the_body_itself(rigged, model):
    w = rigged.weights
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert rigged.joints.shape == (len(w), 4) and rigged.joints.dtype == np.uint16
    dense = np.zeros((len(w), len(BONE_NAMES)))
    np.put_along_axis(dense, rigged.joints.astype(int), w, 1)
    own = collapse_weights(model.skin_weights.numpy(), body_bone_map(model.bone_labels, model.bone_parents),
                           len(BONE_NAMES))
    assert (dense.argmax(1) == own.argmax(1)).mean() > 0.85  # the ~12 cm joint blend keeps the parts
    sides = rigged.skeleton.sides()
    left = rigged.vertices[:, 0] > 0.05
    assert dense[left][:, sides < 0].sum(1).max() < 0.01


def _cylinder(centre_x, y0, y1, radius, z0=0.0, rings=24, around=32):
    ys = np.linspace(y0, y1, rings)
    a = np.linspace(0, 2 * np.pi, around, endpoint=False)
    v = np.array([[centre_x + radius * np.cos(t), y, z0 + radius * np.sin(t)] for y in ys for t in a])
    faces = []
    for r in range(rings - 1):
        for k in range(around):
            p, q = r * around + k, r * around + (k + 1) % around
            faces += [[p, q, p + around], [q, q + around, p + around]]
    return v, np.array(faces)


def test_weight_smoothing_series_matches_the_sweeps(body, model):
    """The Chebyshev series gives the lazy walk's sweeps on the body mesh itself, the bones' weights as values."""
    _, adj = weld_adjacency(body.vertices, body.faces)
    bone_map = body_bone_map(body.bone_labels, body.bone_parents)
    values = collapse_weights(model.skin_weights.numpy(), bone_map, len(BONE_NAMES))[:adj.shape[0]]
    for steps in (3, 40, 150):
        swept = values.copy()
        for _ in range(steps):
            swept = 0.5 * swept + 0.5 * (adj @ swept)
        series = lazy_walk(adj, values, steps)
        assert series.dtype == values.dtype
        assert np.abs(series - swept).max() < 2e-4, steps
        assert not np.allclose(swept, values, atol=1e-3)   # the sweeps did move the weights


def test_a_skirt_blends_both_legs_and_hair_follows_the_head(body, model):
    hips = body.joints[model.bone("root")]
    skirt, skirt_faces = _cylinder(0.0, hips[1] - 0.45, hips[1] - 0.05, 0.26, hips[2])
    head = body.joints[model.bone("head")]
    cap, cap_faces = _cylinder(0.0, head[1] + 0.02, head[1] + 0.12, 0.15, head[2])
    v = np.concatenate([body.vertices, skirt, cap])
    f = np.concatenate([body.faces, skirt_faces + len(body.vertices), cap_faces + len(body.vertices) + len(skirt)])
    r = rig_result(v, f, body=body, model=model)
    dense = np.zeros((len(v), len(BONE_NAMES)))
    np.put_along_axis(dense, r.joints.astype(int), r.weights, 1)
    s = slice(len(body.vertices), len(body.vertices) + len(skirt))
    front = np.abs(skirt[:, 0]) < 0.03
    legs = dense[s][front][:, [BONE_NAMES.index("thigh.L"), BONE_NAMES.index("thigh.R")]]
    assert (legs.min(1) > 0.05).mean() > 0.5, "the skirt's middle does not blend both thighs"
    assert dense[s][skirt[:, 0] > 0.06][:, r.skeleton.sides() < 0].sum(1).max() < 0.01
    assert dense[len(body.vertices) + len(skirt):, BONE_NAMES.index("head")].min() > 0.9
    assert r.facts["far_vertices"] > 0 and r.facts["hair_vertices"] > 0


def test_fit_to_a_mesh_from_the_photo_landmarks(model):
    rot = torch.zeros(model.num_bones, 3)
    rot[model.bone("upperarm01.L"), 1] = 0.6
    known = observe(model, torch.full((6,), 0.5), rot)
    obs = known.observation
    pose = PersonPose(image=np.column_stack([obs.landmarks_px, obs.visibility, obs.visibility]).astype(np.float32),
                      world_m=obs.world_landmarks.astype(np.float32), box=(0, 0, 1024, 1024))
    truth = PosedBody.from_model(model, np.full(6, 0.5), rot.numpy(), TO_OUTPUT, "truth")
    r = rig_result(truth.vertices, truth.faces, pose=pose, mask=obs.mask, model=model)
    reference = rig_result(truth.vertices, truth.faces, body=truth, model=model)
    error = np.linalg.norm(r.skeleton.heads - reference.skeleton.heads, axis=1)
    assert np.median(error) < 0.02 and error.max() < 0.06, error.round(3)
    assert r.fitted_body is not None and reference.fitted_body is None
    assert r.facts["body_source"].startswith("photo landmarks")
    blind = rig_result(truth.vertices, truth.faces, model=model)  # no landmarks: placed, and said so
    assert any("no body landmarks" in w for w in blind.warnings)


def test_rest_poses_move_mesh_and_skeleton_together(body, model, rigged):
    for pose, drop in (("t-pose", 0.0), ("a-pose", 45.0)):
        normals = np.tile([0.0, 0.0, 1.0], (len(body.vertices), 1))
        r = rig_result(body.vertices, body.faces, body=body, model=model, rest_pose=pose, normals=normals)
        sk = r.skeleton
        for side in ("L", "R"):
            d = sk.tails[sk.index(f"forearm.{side}")] - sk.heads[sk.index(f"upper_arm.{side}")]
            assert np.degrees(np.arcsin(-d[1] / np.linalg.norm(d))) == pytest.approx(drop, abs=2)
        hand = rigged.joints[np.arange(len(r.vertices)), rigged.weights.argmax(1)] == sk.index("hand.L")
        reach = np.linalg.norm(r.vertices[hand].mean(0) - sk.heads[sk.index("hand.L")])
        assert reach < 0.12, "the hand's mesh did not follow its bone"
        assert r.vertices[:, 1].min() == pytest.approx(0.0, abs=1e-9)
        np.testing.assert_allclose(np.linalg.norm(r.normals, axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(r.weights, rigged.weights)


def test_photo_pose_artefacts_are_named(rigged):
    sk = rigged.skeleton
    assert pose_artefacts(sk) == []
    touching = type(sk)(list(sk.names), list(sk.parents), sk.heads.copy(), sk.tails.copy(), sk.axes.copy())
    thigh = touching.index("thigh.L")
    touching.heads[touching.index("hand.L")] = touching.heads[thigh] + [0.03, -0.1, 0.0]
    assert any("left hand touches the hip" in w for w in pose_artefacts(touching))
    crossed = type(sk)(list(sk.names), list(sk.parents), sk.heads.copy(), sk.tails.copy(), sk.axes.copy())
    crossed.heads[crossed.index("hand.R")] = crossed.heads[crossed.index("chest")] + [0.15, 0.0, 0.15]
    assert any("right arm crosses the body" in w for w in pose_artefacts(crossed))


def test_glb_skin(rigged, body, tmp_path):
    path = write_glb(tmp_path / "rigged.glb", rigged.vertices, body.faces, np.zeros((len(body.vertices), 2)),
                     np.full((4, 4, 3), 200, np.uint8), skin=rigged.skin())
    doc = read_glb_json(path)
    skin = doc["skins"][0]
    assert len(skin["joints"]) == len(BONE_NAMES)
    nodes = doc["nodes"]
    assert [nodes[j]["name"] for j in skin["joints"]] == list(BONE_NAMES)
    mesh_node = next(n for n in nodes if "mesh" in n)
    assert mesh_node["skin"] == 0
    attrs = doc["meshes"][0]["primitives"][0]["attributes"]
    assert doc["accessors"][attrs["JOINTS_0"]]["componentType"] == 5123
    assert doc["accessors"][attrs["WEIGHTS_0"]]["type"] == "VEC4"
    ibm = doc["accessors"][skin["inverseBindMatrices"]]
    assert ibm["type"] == "MAT4" and ibm["count"] == len(BONE_NAMES)
    root = skin["joints"][0]
    assert root in doc["scenes"][0]["nodes"] and nodes[root]["translation"] == pytest.approx(
        list(rigged.skeleton.heads[0]), abs=1e-6)
    assert nodes[root]["extras"]["bone_length"] > 0


def test_settings_and_errors(body, model):
    assert ReconstructSettings().rig is True
    for bad in ({"rig_names": "bvh"}, {"rest_pose": "sitting"}, {"rig": "yes"}):
        with pytest.raises(SyncHumanError) as err:
            ReconstructSettings.from_dict(bad)
        assert err.value.code == "settings.invalid"
    with pytest.raises(SyncHumanError) as err:
        rig_result(np.zeros((0, 3)), np.zeros((0, 3), int), body=body, model=model)
    assert err.value.code == "rig.empty_mesh" and err.value.hint
    with pytest.raises(SyncHumanError) as err:
        rig_result(body.vertices, body.faces, body=body, model=model, names="bvh")
    assert err.value.code == "settings.invalid"
    assert BONES[0][0] == "hips"
