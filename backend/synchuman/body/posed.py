"""A fitted body placed in a result's output frame, and its files in the job folder.

The output frame is the GLB's: metres, y up, the person facing +z, feet on y = 0. Every engine that
fits the body hands the next steps (dressing, rig, rest pose) a `PosedBody`; the job folder keeps it
as `views/body.json` (facts) + `views/body.npz` (arrays, no pickles) so a later step can run from
the folder alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .model import PHENOTYPES, BodyModel

BODY_FORMAT = "synchuman.body/1"
# Camera frame (x right, y down, z away from the camera) -> output frame (y up, facing +z).
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])


@dataclass
class PosedBody:
    """The body model's inputs and its posed surface and skeleton in the output frame."""

    phenotype: np.ndarray  # (6,) in PHENOTYPES order
    rotations: np.ndarray  # (J, 3) the model's pose parameters (rotation vectors)
    model_to_output: np.ndarray  # (4, 4) similarity: model frame -> output frame
    vertices: np.ndarray  # (V, 3) posed body surface, output frame
    faces: np.ndarray  # (F, 3)
    joints: np.ndarray  # (J, 3) posed bone heads, output frame
    bone_rotations: np.ndarray  # (J, 3, 3) posed bone orientations, output frame
    bone_labels: list[str]
    bone_parents: list[int]
    source: str  # how it was fitted, e.g. "photo landmarks + mask" or "landmarks + generated mesh"
    mesh_to_body: np.ndarray | None = None  # (N,) per result-mesh vertex: the nearest body vertex
    facts: dict = field(default_factory=dict)  # fit statistics and warnings, JSON-able
    limb_scale: np.ndarray | None = None  # (len(model.LIMB_SEGMENTS),) the legs' segments' lengths (None: 1)

    @classmethod
    def from_model(cls, model: BodyModel, phenotype, rotations, model_to_output: np.ndarray, source: str,
                   facts: dict | None = None, limb_scale=None) -> "PosedBody":
        """Pose the model and carry it into the output frame by `model_to_output` (4x4 similarity)."""
        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(phenotype), dtype=model.dtype)[None],
                        torch.as_tensor(np.asarray(rotations), dtype=model.dtype)[None], limb_scale=limb_scale)
        t = np.asarray(model_to_output, dtype=np.float64)
        linear = t[:3, :3]
        turn = linear / np.cbrt(np.linalg.det(linear))  # the similarity's rotation

        def place(points):
            return points.double().numpy() @ linear.T + t[:3, 3]

        return cls(phenotype=np.asarray(phenotype, dtype=np.float64), rotations=np.asarray(rotations, dtype=np.float64),
                   model_to_output=t, vertices=place(out.vertices[0]), faces=model.faces.numpy().copy(),
                   joints=place(out.joints[0]), bone_rotations=turn @ out.bone_rotations[0].double().numpy(),
                   bone_labels=list(model.bone_labels), bone_parents=list(model.bone_parents), source=source,
                   facts=dict(facts or {}), limb_scale=None if limb_scale is None else np.asarray(limb_scale, np.float64))

    @property
    def scale(self) -> float:
        """Output metres per model metre."""
        return float(np.cbrt(np.linalg.det(self.model_to_output[:3, :3])))

    # -- files ---------------------------------------------------------------------------------------
    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write `body.json` and `body.npz` into `folder` (each through a temporary name)."""
        folder = Path(folder)
        arrays = {"phenotype": self.phenotype, "rotations": self.rotations, "model_to_output": self.model_to_output,
                  "vertices": self.vertices.astype(np.float32), "faces": self.faces.astype(np.int32),
                  "joints": self.joints.astype(np.float32), "bone_rotations": self.bone_rotations.astype(np.float32)}
        if self.mesh_to_body is not None:
            arrays["mesh_to_body"] = self.mesh_to_body.astype(np.int32)
        if self.limb_scale is not None:
            arrays["limb_scale"] = self.limb_scale
        npz, tmp_npz = folder / "body.npz", folder / "body.tmp.npz"
        np.savez_compressed(tmp_npz, **arrays)
        tmp_npz.replace(npz)
        facts = {"format": BODY_FORMAT, "source": self.source,
                 "phenotype": {name: round(float(v), 5) for name, v in zip(PHENOTYPES, self.phenotype)},
                 "bone_labels": self.bone_labels, "bone_parents": self.bone_parents,
                 "frame": "output: metres, y up, facing +z, feet at 0", "arrays": "body.npz",
                 "vertices": int(len(self.vertices)), **self.facts}
        js, tmp_js = folder / "body.json", folder / "body.json.tmp"
        tmp_js.write_text(json.dumps(facts, indent=1))
        tmp_js.replace(js)
        return js, npz

    @classmethod
    def load(cls, folder: Path) -> "PosedBody":
        folder = Path(folder)
        facts = json.loads((folder / "body.json").read_text())
        if facts.get("format") != BODY_FORMAT:
            raise ValueError(f"{folder / 'body.json'} is not a {BODY_FORMAT} file")
        with np.load(folder / "body.npz", allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        own = {"format", "source", "phenotype", "bone_labels", "bone_parents", "frame", "arrays", "vertices"}
        return cls(phenotype=a["phenotype"], rotations=a["rotations"], model_to_output=a["model_to_output"],
                   vertices=a["vertices"].astype(np.float64), faces=a["faces"].astype(np.int64),
                   joints=a["joints"].astype(np.float64), bone_rotations=a["bone_rotations"].astype(np.float64),
                   bone_labels=facts["bone_labels"], bone_parents=facts["bone_parents"], source=facts["source"],
                   mesh_to_body=a.get("mesh_to_body"), facts={k: v for k, v in facts.items() if k not in own},
                   limb_scale=a.get("limb_scale"))
