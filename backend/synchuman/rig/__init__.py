"""The rig: a humanoid skeleton and skin weights for every result, written into the GLB as a glTF skin.

    skeleton.py  BONES (54 deform bones from the body model's 104; Mixamo and Rigify names), Skeleton
    weights.py   body weights -> result mesh (nearest body point, smoothed/inpainted, sides, 4 influences)
    fit.py       fit the body to a result mesh (photo landmarks + mesh) when the engine has no fitted body
    repose.py    rest poses (photo, a-pose, t-pose) by linear blend skinning; photo-pose warnings

One entry for both engines: `rig_result(vertices, faces, body=..., pose=..., mask=...)` takes the
result mesh in the output frame (metres, y up, facing +z, feet at 0) and, when the engine fitted
one, its `PosedBody`; without one, the body is fitted here (photo landmarks + the mesh).
docs/rig.md describes the bones, the names and the checks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import REST_POSE_CHOICES as REST_POSES
from ..common import RIG_NAME_CHOICES as NAME_SETS
from ..errors import SyncHumanError
from ..export.glb import Skin
from .repose import apply_pose, bone_transforms, pose_artefacts, target_directions
from .skeleton import BONE_NAMES, Skeleton, body_bone_map, build_skeleton, collapse_weights, renamed
from .weights import INFLUENCES, WeightSettings, blend_hinges, limit_influences, transfer_weights

__all__ = ["BONE_NAMES", "NAME_SETS", "REST_POSES", "RigResult", "Skeleton", "rig_result", "save_fitted_body"]

_HEAD_REGION = ("head", "neck", "upper_chest", "eye.L", "eye.R", "clavicle.L", "clavicle.R")
_SIDED_NOT_ARMS = ("thigh", "shin", "foot", "toe", "eye")  # sided bones that never cross the body's middle


@dataclass
class RigResult:
    skeleton: Skeleton  # native names, output frame, at the rest pose
    vertices: np.ndarray  # (V, 3) the mesh at the rest pose (the input when rest_pose is photo)
    joints: np.ndarray  # (V, 4) uint16
    weights: np.ndarray  # (V, 4) float32, rows sum to 1
    names: list[str]  # the bone names written (native, Mixamo or Rigify)
    normals: np.ndarray | None = None  # (V, 3) the mesh's normals at the rest pose, when given
    fitted_body: object = None  # the PosedBody fitted here (None when the engine gave one)
    warnings: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def at(self, index: np.ndarray) -> "RigResult":
        """The same rig on a mesh whose vertex k is this one's index[k] (seam vertices repeated)."""
        return dataclasses.replace(self, vertices=self.vertices[index], joints=self.joints[index],
                                   weights=self.weights[index],
                                   normals=None if self.normals is None else self.normals[index])

    def skin(self) -> Skin:
        """The glTF skin (bones at the rest pose; the mesh is bound there)."""
        return Skin(names=self.names, parents=self.skeleton.parents, matrices=self.skeleton.world_matrices(),
                    joints=self.joints, weights=self.weights,
                    lengths=np.linalg.norm(self.skeleton.tails - self.skeleton.heads, axis=1))


def _check(names: str, rest_pose: str) -> None:
    if names not in NAME_SETS:
        raise SyncHumanError("settings.invalid", f"Unknown rig bone names {names!r}.",
                             f"Choose one of {', '.join(NAME_SETS)}.")
    if rest_pose not in REST_POSES:
        raise SyncHumanError("settings.invalid", f"Unknown rest pose {rest_pose!r}.",
                             f"Choose one of {', '.join(REST_POSES)}.")


def rig_result(vertices: np.ndarray, faces: np.ndarray, *, body=None, pose=None, mask: np.ndarray | None = None,
               photo_to_output: tuple[float, float, float] | None = None, names: str = "native",
               rest_pose: str = "photo", normals: np.ndarray | None = None, model=None,
               weight_settings: WeightSettings | None = None) -> RigResult:
    """Skeleton + weights for a result mesh (output frame). `body`: the engine's `PosedBody`, or None
    to fit one here from `pose` (the photo's `PersonPose`, or None) and `mask` (the person mask);
    `photo_to_output` (metres per pixel, u at x = 0, v at y = 0) when the engine knows how its mesh's
    front view maps onto the photo (else it is read from the mask's box).
    `normals` (V, 3), when given, are re-posed with the mesh."""
    import torch

    from ..body import shared_body_model

    _check(names, rest_pose)
    started = time.perf_counter()
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise SyncHumanError("rig.empty_mesh", "There is no mesh to rig.", "Run the reconstruction again.")
    model = model or shared_body_model()
    warnings: list[str] = []
    timings = {}
    fitted = body is None
    if fitted:
        from .fit import fit_body_to_mesh

        body, fit_warnings = fit_body_to_mesh(model, vertices, pose, mask, photo_to_output)
        warnings += fit_warnings
        timings["fit"] = round(time.perf_counter() - started, 3)
    bone_map = body_bone_map(body.bone_labels, body.bone_parents)
    body_weights = collapse_weights(model.skin_weights.numpy(), bone_map, len(BONE_NAMES))
    if fitted:
        from .fit import refine_depth

        body = refine_depth(body, vertices, bone_map, body_weights, Skeleton.parents_of(BONE_NAMES))
    skeleton = build_skeleton(body.joints, body.bone_rotations, body.bone_labels, body.vertices, body_weights)
    with torch.no_grad():
        rest = model.rest_shape(torch.as_tensor(body.phenotype, dtype=model.dtype)[None])[0][0].numpy()
    lateral = rest[:, 0] - float(np.median(rest[:, 0]))  # the model's +x is the person's left
    head_region = np.isin(np.array(skeleton.names), _HEAD_REGION)
    arm_bones = (skeleton.sides() != 0) & ~np.array([n.split(".")[0] in _SIDED_NOT_ARMS for n in skeleton.names])
    step = time.perf_counter()
    dense, facts = transfer_weights(vertices, faces, body.vertices, body_weights, lateral, skeleton.sides(),
                                    skeleton.index("head"), head_region,
                                    float(skeleton.heads[skeleton.index("neck")][1]), _middle_plane(skeleton),
                                    arm_bones, mesh_to_body=body.mesh_to_body, settings=weight_settings)
    facts["hinge_ramps_m"] = blend_hinges(vertices, dense, skeleton, weight_settings)
    joints, weights = limit_influences(dense, INFLUENCES)
    timings["weights"] = round(time.perf_counter() - step, 3)
    warnings += pose_artefacts(skeleton)
    if rest_pose != "photo":
        skeleton, vertices, normals = apply_pose(skeleton, vertices, joints, weights,
                                                 bone_transforms(skeleton, target_directions(skeleton, rest_pose)),
                                                 normals)
        floor = float(vertices[:, 1].min())  # feet back on the floor
        vertices[:, 1] -= floor
        skeleton.heads[:, 1] -= floor
        skeleton.tails[:, 1] -= floor
    timings["total"] = round(time.perf_counter() - started, 3)
    facts = {"bones": skeleton.count, "names": names, "rest_pose": rest_pose, "influences": INFLUENCES,
             "body_source": body.source, **facts, **body.facts, "timings_s": timings}
    return RigResult(skeleton=skeleton, vertices=vertices, joints=joints, weights=weights,
                     names=renamed(skeleton.names, names), normals=normals, fitted_body=body if fitted else None,
                     warnings=warnings, facts=facts)


def _middle_plane(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """The pelvis' middle plane: through the hips bone, normal from the right thigh to the left."""
    left, right = skeleton.heads[skeleton.index("thigh.L")], skeleton.heads[skeleton.index("thigh.R")]
    normal = left - right
    return skeleton.heads[skeleton.index("hips")], normal / max(np.linalg.norm(normal), 1e-9)


def save_fitted_body(rig: RigResult, views, log) -> None:
    """Logs the rig's warnings (they reach job.json) and saves a body the rig fitted itself as
    views/body.json + body.npz, like an engine's own fit."""
    for note in rig.warnings:
        log.warning(note)
    if rig.fitted_body is not None:
        Path(views).mkdir(parents=True, exist_ok=True)
        rig.fitted_body.save(views)
