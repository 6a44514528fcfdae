"""The engine contract: `reconstruct(photo, settings, job, progress, cancel) -> EngineResult`."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..common import REST_POSE_CHOICES, RIG_NAME_CHOICES
from ..errors import SyncHumanError
from ..jobs import CancelToken, JobFolder, ProgressReporter, Stage

ENGINE_CHOICES = ("auto", "preview", "synchuman")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")
MEMORY_MODES = ("full", "balanced", "low")


@dataclass
class ReconstructSettings:
    """What a user can set for one reconstruction. Defaults are the product's defaults."""

    engine: str = "auto"
    seed: int = 0
    height_m: float = 1.75
    texture_size: int = 1024
    max_faces: int = 60_000
    device: str = "auto"
    precision: str = "auto"
    memory_mode: str = "balanced"
    weights_dir: str | None = None
    stage1_steps: int | None = None   # None: the method's default (50)
    stage2_steps: int | None = None   # None: the method's default (25)
    # Which person to reconstruct when a photo shows several: a box (x0, y0, x1, y1) in photo pixels
    # that the chosen person overlaps most. None: the most prominent person (largest, central, whole).
    person_box: list[int] | None = None
    # The rig (docs/rig.md): skeleton + skin weights in the GLB; bone-name convention; rest pose.
    rig: bool = True
    rig_names: str = "native"
    rest_pose: str = "photo"

    def validate(self) -> "ReconstructSettings":
        def bad(name: str, why: str) -> SyncHumanError:
            return SyncHumanError("settings.invalid", f"Invalid setting {name}={getattr(self, name)!r}: {why}",
                                  "Fix the value and run again (see `synchuman reconstruct --help`).")

        for name, choices in (("engine", ENGINE_CHOICES), ("device", DEVICE_CHOICES),
                              ("precision", PRECISION_CHOICES), ("memory_mode", MEMORY_MODES),
                              ("rig_names", RIG_NAME_CHOICES), ("rest_pose", REST_POSE_CHOICES)):
            if getattr(self, name) not in choices:
                raise bad(name, f"choose one of {', '.join(choices)}")
        if not isinstance(self.rig, bool):
            raise bad("rig", "true or false")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise bad("seed", "a whole number from 0 to 2^63-1")
        if not 0.3 <= float(self.height_m) <= 3.0:
            raise bad("height_m", "between 0.3 and 3.0 metres")
        if self.texture_size not in (256, 512, 1024, 2048, 4096):
            raise bad("texture_size", "one of 256, 512, 1024, 2048, 4096")
        if not 1_000 <= int(self.max_faces) <= 2_000_000:
            raise bad("max_faces", "between 1,000 and 2,000,000")
        for name in ("stage1_steps", "stage2_steps"):
            value = getattr(self, name)
            if value is not None and not 1 <= int(value) <= 500:
                raise bad(name, "between 1 and 500")
        if self.person_box is not None:
            box = self.person_box
            if (not isinstance(box, (list, tuple)) or len(box) != 4
                    or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1_000_000 for v in box)
                    or box[2] <= box[0] or box[3] <= box[1]):
                raise bad("person_box", "four whole pixel coordinates x0,y0,x1,y1 with x1 > x0 and y1 > y0")
            self.person_box = [int(v) for v in box]
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReconstructSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SyncHumanError("settings.invalid", f"Unknown setting(s): {', '.join(unknown)}",
                                 f"Known settings: {', '.join(sorted(known))}.")
        try:
            return cls(**data).validate()
        except (TypeError, ValueError) as exc:
            raise SyncHumanError("settings.invalid", f"Invalid settings: {exc}",
                                 "Check the value types (numbers, strings).") from exc

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EngineResult:
    """What an engine made, as paths inside the job folder plus metadata for job.json."""

    glb: Path
    views: dict[str, Path] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class Engine(ABC):
    """A way to reconstruct a human. Instances keep their models loaded between jobs."""

    name: ClassVar[str]
    stages: ClassVar[tuple[Stage, ...]]

    @classmethod
    @abstractmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        """(usable, reason): cheap check, never loads models."""

    @abstractmethod
    def reconstruct(self, photo, settings: ReconstructSettings, job: JobFolder,
                    progress: ProgressReporter, cancel: CancelToken) -> EngineResult:
        """Write the result into `job` and return it. Call `progress` at every step."""

    def release(self) -> None:
        """Free models and caches (the service's `release` request)."""
