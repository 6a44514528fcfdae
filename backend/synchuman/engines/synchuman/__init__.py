"""The `synchuman` engine: the neural method (stage 1, stage 2, post-processing)."""

from __future__ import annotations

from ...errors import SyncHumanError
from ...jobs import Stage
from ...weights import weights_status
from ..base import Engine, ReconstructSettings


class SyncHumanEngine(Engine):
    name = "synchuman"
    stages = (
        Stage("load", "Loading models", 1.0),
        Stage("stage1", "Multiview + structure sampling", 10.0),
        Stage("stage2", "Structured latent sampling", 4.0),
        Stage("decode", "Decoding mesh", 1.0),
        Stage("postprocess", "Clean-up and baking", 2.0),
        Stage("export", "Writing GLB", 0.2),
    )

    @classmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        status = weights_status(settings.weights_dir)
        if not status["present"]:
            return False, f"weights missing in {status['dir']} ({len(status['missing'])} files)"
        return True, f"weights in {status['dir']}"

    def reconstruct(self, photo, settings, job, progress, cancel):
        raise SyncHumanError("engine.unavailable", "The synchuman engine pipeline is not wired yet.",
                             "Use --engine preview for now.")
