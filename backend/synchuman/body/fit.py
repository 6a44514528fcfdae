"""Fit the body model's shape and pose to a person's 33 landmarks and silhouette in one photo.

Camera frame (metres), the one MediaPipe's world landmarks use: x to the image's right, y down,
z away from the camera. A point projects to
`(u, v) = principal + (offset - principal + scale * (x, y)) / (1 + z / distance)` in photo pixels
(pixel centres at .5, as the pose step writes them): a pinhole camera whose axis meets the photo at
`principal` (its centre), `distance` metres from the hip centre, which shows at `offset`, `scale`
pixels per metre at its depth. With a focal length (`PoseObservation.focal_px`) the distance is
`focal_px / scale`; without one the camera is orthographic (`project_to_photo`). A body in the
model frame (z up, facing -y) is turned to face the camera upright by
`FACING_CAMERA`, then by the fitted global rotation.

The fit minimises, with L-BFGS on the CPU (first the camera alone, then everything; longer where
it is still converging, `FitSettings.extra_iterations`):
- the 2D landmark error in pixels (relative to the person's size), weighted by visibility;
- the error of the hip-centred 3D landmarks against MediaPipe's world landmarks (metres), which
  gives depth: a knee raised toward the camera, a seated pose, an arm pointing at the camera;
- the silhouette: projected surface points outside the mask are pulled in (clothes make the mask
  larger than the body, so only "outside" is penalised);
- priors: small rotations, knees that bend one way only, a phenotype near the average (muscle and
  weight held at it: `FITTED_PHENOTYPES`), and with `weight_unseen_prior` a leg no landmark of any
  weight speaks for kept near its rest, and with `weight_unseen_standing` its thigh and shin
  pointing down the world's vertical (`PoseObservation.down`: the rest pose splays each leg 6-7
  degrees off it, and a torso leaning back sent them forward), and with `weight_hanging_elbow` a forearm no
  landmark of any weight speaks for (a hand below a half-body photo's frame) hanging on from its
  upper arm, bent HANGING_ELBOW_BEND: the model's rest pose bends the elbow 43 degrees;
- with a focal length, the stride: when the mask shows where both feet stand, the depth between the
  feet is read from their rows (`body.stride`) and replaces the landmarks' own, which compress a
  walking person's stride to a third and may flip it; with `arm_swing`, a step also sets the arms'
  depth, each hand swinging against its own foot (MediaPipe's arm depth carries almost no
  information); the forward swing is a least reach, and the 2D landmarks and the bones' lengths (the
  forearm's foreshortening) say how much further the hand goes.
Only the bones a photo can show are free (spine, neck, head, clavicles, arms, legs, feet); twist
bones, fingers and toes keep their reference pose. Only the vertices the losses read are posed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..foreground.pose import LANDMARK
from .landmarks import LEFT_HIP, RIGHT_HIP, LandmarkRegressor, hip_centre
from .model import LIMB_SEGMENTS, PHENOTYPES, BodyModel, axis_angle_to_matrix
from .stride import FEET_SEEN, MIN_SWING_STRIDE, SOLES, arm_swing, standing_soles, stride_depth

# Model frame -> camera frame for an upright body facing the camera.
FACING_CAMERA = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
FREE_BONES = ("spine05", "spine03", "spine01", "neck01", "head", "clavicle.L", "clavicle.R",
              "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
              "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R")
KNEES = ("lowerleg01.L", "lowerleg01.R")
LEGS = ("upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R")
ARMS = (("upperarm01.L", "lowerarm01.L", "wrist.L"), ("upperarm01.R", "lowerarm01.R", "wrist.R"))  # shoulder, elbow, wrist
# The phenotype the fit reads from a photo. Muscle and weight change the body's girth, which nothing
# here measures (the mask only bounds the body: clothes are wider than it), so they stay average.
FITTED_PHENOTYPES = ("gender", "age", "height", "proportions")
UPRIGHT = ("spine05", "spine03", "spine01", "neck01", "head")  # the bones `weight_upright` keeps at rest
TORSO = (LANDMARK["left_shoulder"], LANDMARK["right_shoulder"], LEFT_HIP, RIGHT_HIP)
CONVERGING_WINDOW = 15  # evaluations over which FitSettings.still_converging is measured
# An arm hanging at rest bends its elbow a little (the rest pose's 43 degrees is far more): the bend
# `weight_hanging_elbow` gives an unseen forearm. 10 degrees let the fit bend it backwards.
HANGING_ELBOW_BEND = np.radians(20.0)
_HANGING_COS = float(np.cos(HANGING_ELBOW_BEND))
MOVED = 0.25  # a bone moves a landmark that moves at least this share of the farthest one's move


@dataclass
class PoseObservation:
    """What the pose step saw in one photo (MediaPipe BlazePose conventions)."""

    landmarks_px: np.ndarray  # (33, 2) u, v in photo pixels
    visibility: np.ndarray  # (33,) 0..1
    world_landmarks: np.ndarray | None = None  # (33, 3) metres about the hip centre, camera axes
    mask: np.ndarray | None = None  # (H, W) person mask, bool or 0..1
    focal_px: float | None = None  # the camera's focal length in photo pixels; None: orthographic
    principal_px: tuple[float, float] | None = None  # where its axis meets the photo; None: the photo's centre
    image_trust: np.ndarray | None = None  # (33,) 0..1 scales a landmark's 2D weight only (None: all 1)
    legs_measured: bool = True  # the photo shows where the legs end (FitSettings.limb_range applies)
    # a step already set between the world landmarks' ankles (metres, left depth less right; e.g.
    # body.stride.step_apart where the photo shows one foot): the arms swing with it (arm_swing)
    stride_m: float | None = None
    down: tuple[float, float, float] | None = None  # the world's down in the camera axes (None: the camera's y)

    @classmethod
    def from_person_pose(cls, pose, mask: np.ndarray | None = None) -> "PoseObservation":
        """From the pose step's `foreground.PersonPose` (and the foreground's mask)."""
        return cls(landmarks_px=np.asarray(pose.image[:, :2]), visibility=np.asarray(pose.image[:, 2]),
                   world_landmarks=np.asarray(pose.world_m), mask=mask)


@dataclass
class FitSettings:
    iterations: int = 80  # L-BFGS iterations on everything (one or two evaluations each)
    # ... and up to this many more while the fit is still converging: its best loss fell by more than
    # `still_converging` over the last CONVERGING_WINDOW evaluations (a kneeling or seated pose, far
    # from the start, is still folding its legs when a standing one has long settled)
    extra_iterations: int = 0
    still_converging: float = 0.1
    align_iterations: int = 20  # first, the camera alone
    weight_2d: float = 1.0
    weight_3d: float = 1.0
    weight_mask: float = 0.3
    weight_pose_prior: float = 1e-5
    weight_unseen_prior: float = 0.0  # the same, on the legs' bones (LEGS) that move no landmark of any weight
    weight_unseen_standing: float = 0.0  # ... whose thighs and shins then point down (PoseObservation.down)
    weight_hanging_elbow: float = 0.0  # an unseen forearm (no landmark of any weight) hangs on from its upper arm (HANGING_ELBOW_BEND)
    weight_shape_prior: float = 1e-5
    limb_range: float = 0.0  # the legs' segments may be this much longer or shorter (0: the phenotype's)
    weight_limb_prior: float = 1e-3
    weight_upright: float = 0.0  # the spine, neck and head bend only where the landmarks insist (see UPRIGHT)
    silhouette_points: int = 800
    stride_from_ground: bool = False  # the feet's depths from where they stand (needs the photo's focal length)
    perspective: bool = True  # project through the focal length (False: orthographic, the focal only reads the stride)
    arm_swing: bool = False  # with a stride read from the feet, the arms swing against the legs (arm_swing)


@dataclass
class BodyFit:
    """A fitted body: the model's inputs and the camera, plus where its joints landed."""

    phenotype: np.ndarray  # (6,) in PHENOTYPES order
    rotations: np.ndarray  # (J, 3) rotation vectors, the model's pose parameters
    camera_rotation: np.ndarray  # (3, 3) model frame -> camera frame
    scale: float  # pixels per metre at the hip centre's depth
    offset: np.ndarray  # (2,) pixels
    inverse_distance: float  # 1 / the camera's distance to the hip centre, per metre (0: orthographic)
    principal: np.ndarray  # (2,) pixels: where the camera's axis meets the photo
    joints_camera: np.ndarray  # (J, 3) metres, camera frame, hip centre at the origin
    landmark_error_px: float  # visibility-weighted mean 2D landmark error
    seconds: float
    losses: dict = field(default_factory=dict)
    limb_scale: np.ndarray | None = None  # (len(LIMB_SEGMENTS),) the legs' segments' lengths (None: 1)

    def phenotype_dict(self) -> dict:
        return {name: float(v) for name, v in zip(PHENOTYPES, self.phenotype)}


def camera_pose(model: BodyModel, landmarks: LandmarkRegressor, phenotype, rotvecs, camera_rotation, limb_scale=None):
    """A posed body in the camera frame, hip-centred: vertices (V, 3), joints (J, 3), landmarks
    (33, 3), as numpy arrays. camera_rotation (3, 3) turns the upright, camera-facing body."""
    return camera_pose_and_centre(model, landmarks, phenotype, rotvecs, camera_rotation, limb_scale)[:3]


def camera_pose_and_centre(model: BodyModel, landmarks: LandmarkRegressor, phenotype, rotvecs, camera_rotation,
                           limb_scale=None):
    """`camera_pose`'s arrays and the hip centre they were moved by: the posed model's vertices are
    `(vertices + centre) @ to_camera` with `to_camera = camera_rotation @ FACING_CAMERA`, so the
    model frame maps to the hip-centred camera frame as p -> to_camera @ p - centre."""
    with torch.no_grad():
        out = model(torch.as_tensor(phenotype, dtype=model.dtype)[None], torch.as_tensor(rotvecs, dtype=model.dtype)[None],
                    limb_scale=limb_scale)
        to_camera = torch.as_tensor(camera_rotation, dtype=model.dtype) @ FACING_CAMERA.to(model.dtype)
        verts, joints = out.vertices[0] @ to_camera.T, out.joints[0] @ to_camera.T
        marks = landmarks(verts[None], joints[None])[0]
        centre = hip_centre(marks)
    return (verts - centre).numpy(), (joints - centre).numpy(), (marks - centre).numpy(), centre.double().numpy()


def project_to_photo(points, scale, offset, inverse_distance=0.0, principal=0.0):
    """Hip-centred camera-frame points (N, 3) -> photo pixels (N, 2); numpy or torch."""
    if not torch.is_tensor(inverse_distance) and inverse_distance == 0.0:
        return scale * points[:, :2] + offset  # orthographic: the principal point plays no part
    w = 1.0 + inverse_distance * points[:, 2:3]
    w = w.clip(min=0.2) if isinstance(w, np.ndarray) else w.clamp(min=0.2)  # nothing reaches the lens
    return principal + (offset - principal + scale * points[:, :2]) / w


def _rotation_between(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation R minimising |R src - dst| (centred point sets, Kabsch)."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _outside_distance(mask: np.ndarray) -> torch.Tensor:
    """Per pixel, the distance in pixels to the person mask (0 inside)."""
    import cv2

    outside = (np.asarray(mask, dtype=np.float32) < 0.5).astype(np.uint8)
    return torch.from_numpy(cv2.distanceTransform(outside, cv2.DIST_L2, 5).astype(np.float32))


def _sample(field_: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of an (H, W) field at (N, 2) pixel positions (pixel centres at .5;
    clamped at the border)."""
    h, w = field_.shape
    grid = torch.stack([uv[:, 0] / w * 2 - 1, uv[:, 1] / h * 2 - 1], -1)
    return torch.nn.functional.grid_sample(field_[None, None], grid[None, None], mode="bilinear",
                                           padding_mode="border", align_corners=False)[0, 0, 0]


class BodyFitter:
    """Fits one `BodyModel` to observations; reusable across photos (holds the index tables)."""

    def __init__(self, model: BodyModel, settings: FitSettings | None = None):
        self.model = model
        self.settings = settings or FitSettings()
        self.landmarks = LandmarkRegressor(model)
        self.free = torch.tensor([model.bone(b) for b in FREE_BONES])
        self.knees = torch.tensor([FREE_BONES.index(b) for b in KNEES])
        self.upright = torch.tensor([FREE_BONES.index(b) for b in UPRIGHT])
        self.fitted_phenotypes = torch.tensor([PHENOTYPES.index(p) for p in FITTED_PHENOTYPES])
        # Silhouette samples: an even spread of vertices (every k-th) over the whole body.
        step = max(1, model.num_vertices // self.settings.silhouette_points)
        self.silhouette_ids = torch.arange(0, model.num_vertices, step)
        self._n_landmark_vertices = len(self.landmarks.vertex_ids)
        self.posed = model.restricted(torch.cat([self.landmarks.vertex_ids, self.silhouette_ids]), posable=self.free)
        self.moved = self._landmarks_moved()
        self.legs = torch.tensor([b in LEGS for b in FREE_BONES])
        self.arms = torch.tensor([[model.bone(b) for b in arm] for arm in ARMS])  # (2, 3) joints
        self.forearms = torch.tensor([FREE_BONES.index(arm[1]) for arm in ARMS])
        self.leg_joints = torch.tensor([[model.bone(f"{b}.{k}") for b in ("upperleg01", "lowerleg01", "foot")] for k in "LR"])
        self.leg_segments = torch.tensor([[FREE_BONES.index(f"{b}.{k}") for b in ("upperleg01", "lowerleg01")] for k in "LR"])

    def _landmarks_moved(self) -> torch.Tensor:
        """(free bones, 33): which landmarks each free bone moves, turned a little at the rest pose: by
        at least MOVED of the farthest one's move (a hip landmark near the thigh's pivot says little
        about where the thigh points)."""
        n = len(FREE_BONES)
        turned = torch.zeros(n + 1, len(FREE_BONES), 3)
        turned[torch.arange(n), torch.arange(n)] = 0.2
        with torch.no_grad():
            rot = torch.zeros(n + 1, self.model.num_bones, 3).index_copy(1, self.free, turned)
            out = self.posed(torch.full((n + 1, len(PHENOTYPES)), 0.5), rot)
            marks = self.landmarks(out.vertices[:, :self._n_landmark_vertices], out.joints)
        move = (marks[:n] - marks[n:]).norm(dim=-1)
        return move > MOVED * move.amax(1, keepdim=True)

    def project(self, fit: BodyFit) -> tuple[np.ndarray, np.ndarray]:
        """The fitted body's vertices in the camera frame (V, 3) and in photo pixels (V, 2)."""
        verts, _, _ = camera_pose(self.model, self.landmarks, fit.phenotype, fit.rotations, fit.camera_rotation,
                                  fit.limb_scale)
        return verts, project_to_photo(verts, fit.scale, fit.offset, fit.inverse_distance, fit.principal)

    def _posed(self, phenotype, free_rotvecs, limb_scale=None):
        """The posed model at the landmark and silhouette vertices (model frame)."""
        rot = torch.zeros(1, self.model.num_bones, 3, dtype=free_rotvecs.dtype)
        rot = rot.index_copy(1, self.free, free_rotvecs[None])
        return self.posed(phenotype[None], rot, limb_scale=limb_scale)

    def _pose(self, phenotype, free_rotvecs, camera_rot, limb_scale=None, posed=None):
        """Landmarks (33, 3), silhouette points (N, 3) and joints (J, 3): camera frame, hip-centred.
        posed: `_posed`'s output for these inputs, when it is already known."""
        out = posed if posed is not None else self._posed(phenotype, free_rotvecs, limb_scale)
        to_camera = camera_rot @ FACING_CAMERA.to(camera_rot.dtype)
        verts = out.vertices[0] @ to_camera.T
        joints = out.joints[0] @ to_camera.T
        marks = self.landmarks(verts[None, :self._n_landmark_vertices], joints[None])[0]
        centre = hip_centre(marks)
        return marks - centre, verts[self._n_landmark_vertices:] - centre, joints - centre

    def fit(self, obs: PoseObservation) -> BodyFit:
        started = time.monotonic()
        s = self.settings
        uv = torch.as_tensor(np.asarray(obs.landmarks_px, dtype=np.float32))
        vis = torch.as_tensor(np.clip(np.asarray(obs.visibility, dtype=np.float32), 0, 1))
        weights = vis * self.landmarks.weights
        weights_2d = weights if obs.image_trust is None else \
            weights * torch.as_tensor(np.asarray(obs.image_trust, dtype=np.float32))
        world = None if obs.world_landmarks is None else torch.as_tensor(np.asarray(obs.world_landmarks, dtype=np.float32))
        outside = None if obs.mask is None else _outside_distance(obs.mask)
        # a leg the landmarks say nothing about (beyond the photo's frame, or guessed off the person)
        # stands: free, the silhouette alone would turn it along the line of sight, where it hides (an
        # arm's rest pose is held out, no better a guess than where the silhouette leaves it)
        spoken_for = (self.moved & (weights > 0)).any(1)
        unseen = self.legs & ~spoken_for
        # ... and a forearm no landmark speaks for (the hand below a half-body photo's frame) hangs on
        # from its upper arm rather than keep the rest pose's bent elbow
        unseen_arms = self.arms[~spoken_for[self.forearms]]
        unseen_segments = unseen[self.leg_segments].float()   # (side, thigh/shin)
        down = torch.tensor(obs.down if obs.down is not None else (0.0, 1.0, 0.0), dtype=torch.float32)

        # Start: the average body, turned like the torso of the world landmarks (if any), placed
        # and scaled by least squares on the visible torso landmarks.
        phen_logit = torch.zeros(len(FITTED_PHENOTYPES), requires_grad=True)

        def phenotype_of(logit):
            return torch.full((len(PHENOTYPES),), 0.5).index_copy(0, self.fitted_phenotypes, torch.sigmoid(logit))
        # the legs' segments' lengths, free within limb_range where the photo shows where the legs end
        limb_range = s.limb_range if obs.legs_measured else 0.0
        limb_logit = torch.zeros(len(LIMB_SEGMENTS), requires_grad=True)

        def limbs():
            return 1.0 + limb_range * torch.tanh(limb_logit) if limb_range else None

        free = torch.zeros(len(FREE_BONES), 3, requires_grad=True)
        with torch.no_grad():
            marks0, _, _ = self._pose(torch.full((6,), 0.5), free, torch.eye(3))
        camera0 = np.eye(3)
        if world is not None:
            idx = list(TORSO)
            camera0 = _rotation_between(marks0[idx].numpy() - marks0[idx].numpy().mean(0),
                                        world[idx].numpy() - world[idx].numpy().mean(0))
        camera_vec = torch.zeros(3, requires_grad=True)
        camera0_t = torch.as_tensor(camera0, dtype=torch.float32)
        with torch.no_grad():
            m0 = (marks0 @ camera0_t.T)[:, :2]
            w = weights[list(TORSO)] + 1e-6
            a, b = m0[list(TORSO)], uv[list(TORSO)]
            am, bm = (w[:, None] * a).sum(0) / w.sum(), (w[:, None] * b).sum(0) / w.sum()
            scale0 = float(((w[:, None] * (a - am) * (b - bm)).sum() / (w[:, None] * (a - am) ** 2).sum()).clamp(min=1.0))
            offset0 = bm - scale0 * am
        log_scale = torch.tensor(np.log(scale0), dtype=torch.float32, requires_grad=True)
        shift = torch.zeros(2, requires_grad=True)  # in units of the person's size: parameters of like scale
        size = float((uv[weights > 0.3].amax(0) - uv[weights > 0.3].amin(0)).max().clamp(min=16.0)) if (weights > 0.3).any() else 100.0

        focal = obs.focal_px
        projection_focal = focal if s.perspective else None
        principal = obs.principal_px
        if principal is None:  # the photo's centre (the mask has the photo's size)
            principal = (0.5 * obs.mask.shape[1], 0.5 * obs.mask.shape[0]) if obs.mask is not None else (0.0, 0.0)
        principal = torch.tensor(principal, dtype=torch.float32)
        soles = None
        if s.stride_from_ground and focal and world is not None and obs.mask is not None:
            soles = standing_soles(obs.mask, uv.numpy(), vis.numpy() >= FEET_SEEN, size)

        with torch.no_grad():  # the body as it starts: while the camera alone is fitted, it is posed once
            start = self._posed(phenotype_of(phen_logit), free, limbs())

        def losses(full: bool) -> dict:
            phenotype = phenotype_of(phen_logit)
            camera = axis_angle_to_matrix(camera_vec) @ camera0_t
            limb_scale = limbs()
            marks, sil, joints = self._pose(phenotype, free, camera, limb_scale, posed=None if full else start)
            scale = log_scale.exp()
            inverse_distance = scale / projection_focal if projection_focal else 0.0
            offset = offset0 + size * shift
            proj = project_to_photo(marks, scale, offset, inverse_distance, principal)
            terms = {"2d": s.weight_2d * (weights_2d * (((proj - uv) / size) ** 2).sum(-1)).sum() / weights.sum().clamp(min=1e-6)}
            if world is not None:
                miss = marks - world
                if swing_way is not None:  # the arm swung forward may go further, not less far (arm_swing)
                    short = torch.relu(swing_way * (world[:, 2] - marks[:, 2]))
                    miss = torch.cat([miss[:, :2], torch.where(swing_way != 0, short, miss[:, 2])[:, None]], 1)
                terms["3d"] = s.weight_3d * (weights * (miss ** 2).sum(-1)).sum() / weights.sum().clamp(min=1e-6)
            if full and outside is not None:
                d = _sample(outside, project_to_photo(sil, scale, offset, inverse_distance, principal))
                terms["mask"] = s.weight_mask * ((d / size) ** 2).mean()
            if full:
                knee = free[self.knees]
                terms["pose"] = s.weight_pose_prior * ((free ** 2).sum() + 10 * (knee[:, 1:] ** 2).sum()
                                                       + 10 * (torch.relu(-knee[:, 0]) ** 2).sum())
                if s.weight_unseen_prior and unseen.any():
                    terms["unseen"] = s.weight_unseen_prior * (free[unseen] ** 2).sum()
                if s.weight_unseen_standing and unseen_segments.any():
                    ends = joints[self.leg_joints]   # (side, hip/knee/ankle, 3)
                    along = torch.nn.functional.normalize(ends[:, 1:] - ends[:, :-1], dim=-1)
                    terms["unseen_standing"] = s.weight_unseen_standing * (unseen_segments * ((along - down) ** 2).sum(-1)).sum()
                if s.weight_hanging_elbow and len(unseen_arms):
                    upper = torch.nn.functional.normalize(joints[unseen_arms[:, 1]] - joints[unseen_arms[:, 0]], dim=-1)
                    fore = torch.nn.functional.normalize(joints[unseen_arms[:, 2]] - joints[unseen_arms[:, 1]], dim=-1)
                    terms["hanging_elbow"] = s.weight_hanging_elbow * ((_HANGING_COS - (upper * fore).sum(-1)) ** 2).sum()
                if s.weight_upright:
                    terms["upright"] = s.weight_upright * (free[self.upright] ** 2).sum()
                terms["shape"] = s.weight_shape_prior * ((phenotype - 0.5) ** 2).sum()
                if limb_scale is not None:
                    terms["limbs"] = s.weight_limb_prior * ((limb_scale - 1.0) ** 2).sum()
            return terms

        stages = ((s.align_iterations, [camera_vec, log_scale, shift], False),
                  (s.iterations, [camera_vec, log_scale, shift, free, phen_logit] + ([limb_logit] if limb_range else []),
                   True))
        evaluations, stride, swung, extended, swing_way = 0, None, False, False, None
        for steps, params, full in stages:
            if full and soles is not None:  # the camera is placed: read the stride before the pose
                with torch.no_grad():
                    marks, _, _ = self._pose(phenotype_of(phen_logit), free, axis_angle_to_matrix(camera_vec) @ camera0_t,
                                             limbs())
                    floor = float(marks[list(SOLES[0] + SOLES[1]), 1].max())  # the lowest heel or toe (y is down)
                    world, stride = stride_depth(world, soles, float(log_scale.exp()), float(offset0[1] + size * shift[1]),
                                                 focal, floor, float(principal[1]))
            if full and world is not None:
                stride = obs.stride_m if stride is None else stride   # read from the feet, or set by the observer
                swung = s.arm_swing and stride is not None and abs(stride) >= MIN_SWING_STRIDE
                if swung:
                    world, swing_way = arm_swing(world)
            # L-BFGS: the problem is a smooth least squares; it converges in far fewer evaluations
            # than a first-order method.
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, history_size=20,
                                    line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

            best = []  # the lowest loss so far, per evaluation

            def closure():
                nonlocal evaluations
                evaluations += 1
                opt.zero_grad()
                total = sum(losses(full).values())
                total.backward()
                value = float(total.detach())
                best.append(min(value, best[-1]) if best else value)
                return total

            opt.step(closure)
            if full and s.extra_iterations and len(best) > CONVERGING_WINDOW \
                    and best[-1] < (1.0 - s.still_converging) * best[-1 - CONVERGING_WINDOW]:
                # the same optimiser goes on where it stopped (its curvature pairs kept)
                opt.param_groups[0].update(max_iter=s.extra_iterations, max_eval=s.extra_iterations * 5 // 4)
                opt.step(closure)
                extended = True

        with torch.no_grad():
            final = {k: float(v) for k, v in losses(True).items()}
            final["evaluations"] = evaluations
            if extended:
                final["extra_iterations"] = 1.0
            if stride is not None:
                final["stride_m"] = stride
            if swung:
                final["arm_swing"] = 1.0
            phenotype = phenotype_of(phen_logit)
            camera = axis_angle_to_matrix(camera_vec) @ camera0_t
            limb_scale = limbs()
            marks, _, joints = self._pose(phenotype, free, camera, limb_scale)
            offset = offset0 + size * shift
            scale = float(log_scale.exp())
            inverse_distance = scale / projection_focal if projection_focal else 0.0
            proj = project_to_photo(marks, scale, offset, inverse_distance, principal)
            err = float((weights * (proj - uv).norm(dim=-1)).sum() / weights.sum().clamp(min=1e-6))
            rotations = torch.zeros(self.model.num_bones, 3).index_copy(0, self.free, free)
        return BodyFit(phenotype=phenotype.numpy(), rotations=rotations.numpy(), camera_rotation=camera.numpy(),
                       scale=scale, offset=offset.detach().numpy(), inverse_distance=inverse_distance,
                       principal=principal.numpy(),
                       joints_camera=joints.numpy(),
                       landmark_error_px=err, seconds=time.monotonic() - started, losses=final,
                       limb_scale=None if limb_scale is None else limb_scale.detach().numpy())
