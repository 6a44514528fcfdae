"""The preview engine's body: the body model fitted to the pose step's landmarks and mask, in metres
(camera.py's metric frame, hip centre at the origin) and in the engine's photo frame (u right, v
down, d towards the camera; pixels, pixel centres at integers). The fit projects orthographically;
the photo's focal length only reads a stride's depth from where the feet stand (body.fit): a
perspective projection of the whole body, tried on the benchmark people, lost more on cropped and
long-lens photos (whose perspective a normal lens misjudges) than it gained. The landmarks are
corrected first by how people stand and sit (landmark_rules.py); after the fit, a seated body is
lowered onto the floor, and so is a kneeling one (`_on_the_floor`).

The model and its fitter are loaded once per process (`shared_fitter`, like `BlazePose.shared()`);
torch is imported only here, when a job first fits a body. `fit_body` says why it gives up (no pose,
too little of the torso seen, a fit that does not match the photo) so the engine can fall back to
the silhouette inflation with a warning.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from ...foreground.pose import LANDMARK
from .bodyparts import body_segments
from .camera import PhotoCamera
from .landmark_guesses import SEEN
from .hidden_feet import STEP_BEHIND
from .landmark_rules import mask_bottom_row, observation

log = logging.getLogger("synchuman.preview")

TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
MAX_LANDMARK_ERROR = 0.06  # of the person's height: beyond it the fit does not match the photo
MIN_MASK_COVER = 0.45  # the body's projection must explain at least this much of the mask
MIN_BODY_INSIDE = 0.7  # ... and lie mostly inside it
MASK_WEIGHT = 3.0  # 10x the fit's default: on real photos the landmarks alone leave the head above the mask
LIMB_RANGE = 0.15  # the legs' segments may be this much longer or shorter than the phenotype's
FLOOR_REACH = 0.08  # of the body's height in the photo: the most a seated body is lowered to the floor
UPRIGHT_WEIGHT = 1e-3  # 100x the pose prior, on the spine, neck and head alone (body.fit.UPRIGHT)
UNSEEN_WEIGHT = 1e-2  # 1000x the pose prior, on a leg no landmark speaks for (body.fit.LEGS): it stands ...
UNSEEN_STANDING_WEIGHT = 0.1  # ... its thigh and shin upright in the world (10 degrees off costs 3e-3, the prior 3e-4)
HANGING_ELBOW_WEIGHT = 1e-2  # an unseen forearm hangs on from its upper arm (body.fit.HANGING_ELBOW_BEND)
FIT_ITERATIONS = 60  # L-BFGS iterations on everything (body.fit.FitSettings.iterations)
EXTRA_ITERATIONS = 30  # ... and up to this many more while the fit is still converging (kneeling, seated)

_lock = threading.Lock()
_shared: dict = {}


def shared_fitter():
    """The process's `BodyFitter` (None when the body data is missing: `unavailable_reason` says why)."""
    with _lock:
        if "fitter" not in _shared:
            try:
                import torch  # noqa: F401  (imported here: the engine starts without it)

                from ...body import shared_body_model
                from ...body.fit import BodyFitter, FitSettings

                settings = FitSettings(iterations=FIT_ITERATIONS, extra_iterations=EXTRA_ITERATIONS,
                                       silhouette_points=600, weight_mask=MASK_WEIGHT,
                                       weight_upright=UPRIGHT_WEIGHT, weight_unseen_prior=UNSEEN_WEIGHT,
                                       weight_unseen_standing=UNSEEN_STANDING_WEIGHT,
                                       weight_hanging_elbow=HANGING_ELBOW_WEIGHT,
                                       stride_from_ground=True, arm_swing=True, perspective=False,
                                       limb_range=LIMB_RANGE)
                _shared["fitter"] = BodyFitter(shared_body_model(), settings)
                _shared["reason"] = None
            except Exception as exc:  # missing or damaged body data, or no torch: the inflation runs instead
                log.warning("body model unavailable: %s", exc)
                _shared["fitter"] = None
                _shared["reason"] = f"{type(exc).__name__}: {exc}"
        return _shared["fitter"]


def unavailable_reason() -> str | None:
    return _shared.get("reason")


@dataclass
class PhotoBody:
    """A fitted body in the photo frame, with what the output steps need from the model."""

    fit: object  # body.fit.BodyFit
    vertices_px: np.ndarray  # (V, 3) u, v, d towards the camera (pixels): camera.to_photo(vertices)
    faces: np.ndarray  # (F, 3)
    model_to_metric: np.ndarray  # (4, 4) model frame -> metric frame (metres, y up, hip centre at 0)
    camera: PhotoCamera  # metric frame <-> photo frame
    vertex_parts: np.ndarray  # (V,) index into part_names
    part_names: list[str]
    torso_turn: float = 0.0  # radians: the torso turned from the photo's plane, its right side towards the camera
    warnings: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


def fit_body(pose, mask: np.ndarray, focal_px: float | None = None) -> tuple[PhotoBody | None, str]:
    """The body fitted to one person, or (None, why not). focal_px: the photo's focal length
    (camera.focal_px); None fits an orthographic camera."""
    if pose is None:
        return None, "no body pose was detected"
    vis = pose.image[:, 2]
    seen = lambda names: sum(vis[LANDMARK[n]] >= SEEN for n in names)  # noqa: E731
    if seen(TORSO[:2]) < 2:
        return None, "the shoulders are not both visible: too little of the torso to fit a body"
    fitter = shared_fitter()
    if fitter is None:
        return None, f"the body model is not available ({unavailable_reason()})"
    import torch

    from ...body.fit import FACING_CAMERA, camera_pose_and_centre
    from ...body.model import LIMB_SEGMENTS

    obs, posture, pitch = observation(pose, mask, focal_px)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fit is many tiny operations: one thread costs 5x less CPU than two
    try:
        fit = fitter.fit(obs)
    finally:
        torch.set_num_threads(threads)
    model = fitter.model
    verts_cam, _, _, centre = camera_pose_and_centre(model, fitter.landmarks, fit.phenotype, fit.rotations,
                                                     fit.camera_rotation, fit.limb_scale)
    if not np.all(np.isfinite(verts_cam)):
        return None, "the body fit did not converge"
    # model -> camera frame (hip-centred; y down, z away) -> metric frame (y up, z towards the camera)
    flip = np.diag([1.0, -1.0, -1.0])
    to_camera = fit.camera_rotation @ FACING_CAMERA.double().numpy()
    model_to_metric = np.eye(4)
    model_to_metric[:3, :3] = flip @ to_camera
    model_to_metric[:3, 3] = -flip @ centre
    lowered = _on_the_floor(verts_cam, fit, mask) if posture in ("seated", "kneeling") else 0.0
    # the fit puts pixel centres at .5, the engine's fields at integers; the metric frame faces the
    # line of sight to the hips (camera.py)
    off_axis = (fit.offset[0] - fit.principal[0]) / fit.scale  # metres right of the camera's axis
    yaw = float(np.arctan(off_axis * fit.inverse_distance))
    camera = PhotoCamera(fit.scale, np.zeros(3), np.asarray(fit.offset, dtype=np.float64) - 0.5, fit.inverse_distance,
                         np.asarray(fit.principal, dtype=np.float64) - 0.5, yaw, pitch)
    model_to_metric[:3] = np.column_stack([camera.turn(model_to_metric[:3, :3].T).T, camera.turn(model_to_metric[None, :3, 3])[0]])
    px = camera.to_photo(camera.turn(verts_cam @ flip))

    faces = model.faces.numpy()
    # body segments (head, torso, each limb segment...): finer than the model's own part labels
    parts, names = body_segments(model.skin_weights.numpy(), model.bone_labels, faces, model.face_parts.numpy(),
                                 model.part_labels)
    body = PhotoBody(fit=fit, vertices_px=px, faces=faces, model_to_metric=model_to_metric, camera=camera,
                     vertex_parts=parts, part_names=list(names), torso_turn=_torso_turn(fit.joints_camera, model))
    # does the body explain the photo?
    height = float(np.ptp(px[:, 1]))
    rel_error = fit.landmark_error_px / max(height, 1.0)
    cover, inside = _agreement(px[:, :2], faces, mask)
    body.facts = {"landmark_error_px": round(float(fit.landmark_error_px), 2), "fit_seconds": round(fit.seconds, 3),
                  "stride_m": round(fit.losses["stride_m"], 3) if "stride_m" in fit.losses else None,
                  "arm_swing": "arm_swing" in fit.losses, "thighs_levelled": posture == "seated",
                  "kneeling": posture == "kneeling", "step_behind_guessed": posture == "stepping",
                  "lowered_to_floor_m": round(lowered / fit.scale, 3),
                  "leg_lengths": None if fit.limb_scale is None else
                  {name: round(float(v), 3) for (name, _, _), v in zip(LIMB_SEGMENTS, fit.limb_scale)},
                  "camera_pitch_deg": round(float(np.degrees(pitch)), 2),
                  "torso_turn_deg": round(float(np.degrees(body.torso_turn)), 1),
                  "focal_px": round(float(focal_px), 1) if focal_px else None,
                  "mask_explained": round(cover, 4), "body_inside_mask": round(inside, 4),
                  "phenotype": {k: round(v, 4) for k, v in fit.phenotype_dict().items()}}
    if posture == "stepping":
        body.warnings.append(f"One foot hides the other: the feet are set a typical walking step "
                             f"({100 * STEP_BEHIND:.0f} cm) apart in depth, a guess.")
    if rel_error > MAX_LANDMARK_ERROR:
        return None, f"the body fit misses the landmarks by {100 * rel_error:.0f}% of the height"
    if cover < MIN_MASK_COVER or inside < MIN_BODY_INSIDE:
        return None, (f"the fitted body does not match the person's outline (explains {100 * cover:.0f}% of it, "
                      f"{100 * inside:.0f}% inside it)")
    return body, ""


def _on_the_floor(verts_cam: np.ndarray, fit, mask: np.ndarray) -> float:
    """Lowers a seated or kneeling body (fit.offset) until its lowest point meets the mask's bottom
    under it; the pixels it moved (0: it did not). Fitted to the landmarks, a seated body floats 4-5
    cm above the floor and its seat: its shins cannot reach the feet's landmarks, and its head stands
    above the mask. Not past FLOOR_REACH of its height (the mask's bottom is something else), nor where the
    mask meets the photo's bottom edge (the feet are cut off)."""
    from ...body.fit import project_to_photo

    px = project_to_photo(verts_cam, fit.scale, np.asarray(fit.offset, np.float64), fit.inverse_distance,
                          np.asarray(fit.principal, np.float64))
    low = float(px[:, 1].max())
    feet = px[px[:, 1] >= low - 0.02 * np.ptp(px[:, 1])]
    floor = mask_bottom_row(mask, feet[:, 0].min(), feet[:, 0].max())
    if floor is None:
        return 0.0
    gap = floor + 0.5 - low   # the fit's pixel centres are at .5
    if not 0.0 < gap <= FLOOR_REACH * np.ptp(px[:, 1]):
        return 0.0
    fit.offset = np.asarray(fit.offset, np.float64) + [0.0, gap]
    return gap


def _torso_turn(joints_camera: np.ndarray, model) -> float:
    """How far the fitted torso turns from the photo's plane (radians, its right side in the photo
    towards the camera): the mean of the hips' and the shoulders' axes (a walker's hips twist with
    the stride, and the skirt or coat hangs from the whole torso). joints_camera: x right, z away
    from the camera."""
    turns = []
    for left, right in (("upperleg01.L", "upperleg01.R"), ("upperarm01.L", "upperarm01.R")):
        axis = joints_camera[model.bone(left)] - joints_camera[model.bone(right)]
        axis = axis if axis[0] >= 0 else -axis
        turns.append(np.arctan2(-axis[2], axis[0]))
    return float(np.mean(turns))


def _agreement(px: np.ndarray, faces: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(share of the mask covered by the body's projection, share of the body's projection in the
    mask), at half resolution. px: photo pixels, centres at integers."""
    import cv2

    h, w = mask.shape
    proj = np.zeros(((h + 1) // 2, (w + 1) // 2), np.uint8)
    tris = np.round((px[faces] * 0.5 - 0.25) * 4).astype(np.int32)  # 2 sub-pixel bits
    for tri in tris:  # one by one: cv2.fillPoly of many overlapping triangles leaves gaps where they overlap
        cv2.fillConvexPoly(proj, tri, 1, lineType=cv2.LINE_8, shift=2)
    m = cv2.resize(mask.astype(np.uint8), (proj.shape[1], proj.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    proj = proj > 0
    return float((proj & m).sum() / max(m.sum(), 1)), float((proj & m).sum() / max(proj.sum(), 1))
