"""The `synchuman` engine: the neural method, stage 1 -> stage 2 -> post-processing -> GLB.

    load        DINOv2 + the stage-1 components (`ckpts/OneStage`, prompt embeddings); for a photo without
                alpha the background-removal model (`background/u2net.onnx`, else the shared person detector)
    stage1      joint multiview + sparse-structure sampling (50 steps by default)
    stage1_decode   VAE decode of the 10 views, SS decoder -> occupied voxels; views saved under views/
    stage2      structured-latent sampling (25 steps), multiview DINOv2 features, Gaussian + mesh decoders
    mesh_cleanup, uv_atlas, texture_bake, export    the post-processing chain (`pipelines.postprocess`);
                the export step rigs the mesh (`synchuman.rig`: the body fitted to the photo's landmarks
                and the mesh, weights carried over) unless the settings turn the rig off

Models stay loaded between jobs (the service keeps the engine); `release()` frees them. Where they live
and in which precision is the pipelines' `MemoryPolicy` (`pipelines.memory`), chosen from the settings'
device, precision and memory mode. docs/synchuman-engine.md lists the expected peak memory of each mode.
"""

from __future__ import annotations

import gc
import logging
import time
from types import SimpleNamespace

from ...errors import SyncHumanError
from ...foreground import cut_person, write_pose_views
from ...jobs import Stage
from ...weights import BACKGROUND_FILE, require_weights, weights_status
from ..base import Engine, EngineResult, ReconstructSettings

log = logging.getLogger("synchuman.engine")

STAGE1_STEPS, STAGE2_STEPS = 50, 25
# CPU seconds (all threads together) of one reconstruction at the released sizes, measured by the
# full-size rehearsal in bf16 on a CPU with native bf16 (docs/benchmarks.md, "Full-size rehearsal");
# used only to tell CPU users what to expect. The fixed part: conditions, view and voxel decoding,
# the multiview features, the decoders + FlexiCubes and the post-processing.
CPU_S_FIXED, CPU_S_STAGE1_STEP, CPU_S_STAGE2_STEP = 1170.0, 839.0, 461.0
FP32_SLOWDOWN = 2.4  # fp32 vs bf16 matmul rate on that CPU


def _stages() -> tuple[Stage, ...]:
    from ...pipelines.postprocess import POSTPROCESS_STAGES

    return (Stage("load", "Loading models", 1.0),
            Stage("stage1", "Multiview + structure sampling", 10.0),
            Stage("stage1_decode", "Decoding views and voxels", 0.5),
            Stage("stage2", "Structured latent and decoders", 4.0),
            *(Stage(s.name, s.label, s.weight * 3.0) for s in POSTPROCESS_STAGES))


def memory_policy(settings: ReconstructSettings):
    """The pipelines' `MemoryPolicy` for the settings' device ("auto": CUDA when torch sees it),
    precision and memory mode."""
    import torch

    from ...pipelines.memory import MemoryPolicy

    if settings.device == "cuda" and not torch.cuda.is_available():
        raise SyncHumanError("device.unavailable", "CUDA was asked for but torch sees no CUDA device.",
                             "Install the CUDA build of torch (see README) or use --device cpu / auto.")
    device = "cuda" if settings.device == "auto" and torch.cuda.is_available() else \
        settings.device if settings.device != "auto" else "cpu"
    return MemoryPolicy.choose(device, settings.precision, settings.memory_mode)


def cpu_estimate_s(stage1_steps: int, stage2_steps: int, bf16: bool = True) -> float:
    import torch

    cpu_s = CPU_S_FIXED + stage1_steps * CPU_S_STAGE1_STEP + stage2_steps * CPU_S_STAGE2_STEP
    return cpu_s * (1.0 if bf16 else FP32_SLOWDOWN) / max(1, torch.get_num_threads())


class SyncHumanEngine(Engine):
    name = "synchuman"
    stages = _stages()

    def __init__(self) -> None:
        self._key = None          # (weights dir, device, dtype, memory mode) the models were loaded for
        self.dinov2 = None
        self.stage1 = None
        self.stage2 = None
        self.background_remover = None

    @classmethod
    def availability(cls, settings: ReconstructSettings) -> tuple[bool, str]:
        status = weights_status(settings.weights_dir)
        if not status["present"]:
            return False, f"weights missing in {status['dir']} ({len(status['missing'])} files)"
        return True, f"weights in {status['dir']}"

    # -- models ---------------------------------------------------------------------------------
    def release(self) -> None:
        self.dinov2 = self.stage1 = self.stage2 = self.background_remover = None
        self._key = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _load_stage1(self, root, memory):
        """Stage 1 with DINOv2, which stays loaded for stage 2 (it computes the multiview features)."""
        from ...pipelines.stage1 import Stage1Pipeline

        if self.stage1 is None:
            self.stage1 = Stage1Pipeline.from_weights_dir(root, dinov2=self.dinov2, memory=memory)
            self.dinov2 = self.stage1.dinov2

    def _foreground_for(self, photo, root, progress):
        """The alpha source for a photo without alpha: the background-removal model when the weights
        folder has it (as the reference), else None: the shared foreground step (`foreground.cut_person`). The model is
        optional, so a missing or unusable one is a warning, not a failed job."""
        if photo.has_alpha:
            return None
        if self.background_remover is None:
            from ...background_removal import U2NetBackgroundRemover

            try:
                self.background_remover = U2NetBackgroundRemover.from_file(root / BACKGROUND_FILE)
            except SyncHumanError as exc:
                note = f"{exc.message} Using the shared person detector instead. {exc.hint}"
                log.warning(note)
                progress("load", 3, 3, note)
                return None
        return self.background_remover

    def _load_stage2(self, root, memory):
        from ...pipelines.stage2 import Stage2Pipeline

        if self.stage2 is None:
            self.stage2 = Stage2Pipeline.from_pretrained(root / "ckpts" / "SecondStage", memory)

    # -- the job --------------------------------------------------------------------------------
    def reconstruct(self, photo, settings, job, progress, cancel):
        import numpy as np
        import torch

        root = require_weights(settings.weights_dir)
        memory = memory_policy(settings)
        device, dtype, mode = memory.device, memory.dtype, settings.memory_mode
        steps1 = settings.stage1_steps or STAGE1_STEPS
        steps2 = settings.stage2_steps or STAGE2_STEPS
        key = (str(root), str(device), str(dtype), mode)
        if key != self._key:
            self.release()
            self._key = key
        if device.type == "cpu":
            minutes = cpu_estimate_s(steps1, steps2, bf16=dtype == torch.bfloat16) / 60
            precision = str(dtype).replace("torch.", "")
            expect = f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} hours"
            note = (f"running on the CPU in {precision}: expect about {expect} at full size "
                    f"({torch.get_num_threads()} threads); a GPU takes minutes")
            log.warning(note)
            progress("load", 0, 3, note)
        timings: dict[str, float] = {}

        started = time.perf_counter()
        progress("load", 1, 3, "loading DINOv2 and the stage-1 models")
        self._load_stage1(root, memory)
        timings["load_stage1"] = round(time.perf_counter() - started, 3)
        progress("load", 3, 3, "stage-1 models ready")
        person = cut_person(photo, settings.person_box, alpha_model=self._foreground_for(photo, root, progress),
                            progress=lambda d, t, m="": progress("load", 3, 3, m))

        def person_alpha(rgb):   # stage 1 takes a photo's own alpha as it is, as the reference does
            return person.alpha
        person_alpha.source = person.source

        with torch.inference_mode():
            result1 = self.stage1(photo.rgba, seed=settings.seed, steps=steps1, progress=progress, cancel=cancel,
                                  foreground=None if photo.has_alpha else person_alpha)
            result1.save(job.file("views"))
            pose_views = write_pose_views(job.file("views"), photo.rgba[..., :3], person.alpha, person.pose)
            progress("stage1_decode", 1, 1, f"{len(result1.coords)} occupied voxels; views saved")
            if len(result1.coords) == 0:
                raise SyncHumanError("synchuman.empty_structure", "Stage 1 found no occupied voxel.",
                                     "Try another seed, or a photo where the whole person is visible.")
            if not memory.keep_stage1_resident:  # the stage-1 networks leave before stage 2 comes in
                self.stage1 = None
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            started = time.perf_counter()
            progress("stage2", 0, steps2 + 3, "loading the stage-2 models")
            self._load_stage2(root, memory)
            timings["load_stage2"] = round(time.perf_counter() - started, 3)
            result2 = self.stage2.run_from_stage1(result1, result1.condition_tokens, self.dinov2, seed=settings.seed,
                                                  steps=steps2, progress=progress, progress_stage="stage2",
                                                  cancel=cancel)
        if not result2.mesh_ok:
            raise SyncHumanError("synchuman.empty_mesh", "Stage 2 decoded no surface.",
                                 "Try another seed; if it persists, report it with job.log.")

        from ...pipelines.postprocess import to_glb

        rigged = []

        def rig_step(vertices, faces, normals):
            from ...rig import rig_result

            rigged.append(rig_result(vertices, faces, pose=person.pose, mask=person.alpha, names=settings.rig_names,
                                     rest_pose=settings.rest_pose, normals=normals))
            return rigged[-1]

        g = result2.gaussians
        gaussians = SimpleNamespace(xyz=g.positions.float().numpy(), rgb=g.colors.float().numpy(),
                                    opacity=g.opacities.float().numpy().reshape(-1))
        stats = to_glb(result2.mesh_vertices.float().numpy(), result2.mesh_faces.numpy(),
                       np.stack(result1.colors[:4]), np.stack(result1.normals[:4]), result1.colors[4],
                       result1.normals[4], gaussians, out_path=job.file("human.glb"), height_m=settings.height_m,
                       texture_size=settings.texture_size, max_faces=settings.max_faces, progress=progress,
                       cancel=cancel, rig=rig_step if settings.rig else None)
        if rigged:
            from ...rig import save_fitted_body

            save_fitted_body(rigged[-1], job.file("views"), log)
        views = {f"{kind}_{i}": job.file(f"views/{kind}_{i}.png") for kind in ("color", "normal") for i in range(5)}
        views.update(pose_views)
        return EngineResult(glb=job.file("human.glb"), views=views, metadata={
            "person": person.facts(),
            "device": str(device), "dtype": str(dtype).replace("torch.", ""), "memory_mode": mode,
            "stage1": {"steps": steps1, "voxels": int(len(result1.coords)), "alpha_source": result1.meta.get(
                "alpha_source"), **{k: round(v, 3) for k, v in result1.timings.items()}},
            "stage2": {"steps": steps2, **{k: round(v, 3) for k, v in result2.timings.items()}},
            "postprocess": {k: v for k, v in stats.items() if k not in ("glb", "rig")},
            "rig": stats.get("rig"),
            "load_timings_s": timings,
        })
