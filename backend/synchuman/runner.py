"""One reconstruction from a photo path to a committed job folder; shared by the CLI, the
service and the batch runners."""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .engines import Engine, ReconstructSettings, choose_engine, engine_class
from .errors import SyncHumanError, disk_full_error
from .heap import release_free_memory
from .images import load_photo
from .jobs import CancelToken, JobFolder, JobLog, ProgressReporter, Stage, write_json

log = logging.getLogger("synchuman.runner")

INPUT_STAGE = Stage("input", "Reading photo", 0.01)


def versions() -> dict[str, str]:
    """Versions of what ran; torch only when already imported (importing it is slow)."""
    import numpy

    out = {"synchuman": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("torch", "diffusers", "transformers", "trimesh", "cv2", "onnxruntime"):
        if mod in sys.modules:
            out[mod] = getattr(sys.modules[mod], "__version__", "?")
    return out


class EngineCache:
    """Engine instances kept between jobs so models stay loaded."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Engine:
        with self._lock:
            if name not in self._engines:
                self._engines[name] = engine_class(name)()
            return self._engines[name]

    def release(self) -> list[str]:
        with self._lock:
            names = list(self._engines)
            for engine in self._engines.values():
                engine.release()
            self._engines.clear()
        return names


def run_reconstruction(photo_path: str | Path, output_dir: str | Path, settings: ReconstructSettings,
                       emit: Callable[[dict], None], cancel: CancelToken, engines: EngineCache,
                       job_id: str | None = None) -> dict[str, Any]:
    """Runs one job; returns the `result` event (without "type"). Raises SyncHumanError / Cancelled."""
    try:
        return _run_job(photo_path, output_dir, settings, emit, cancel, engines, job_id)
    finally:
        release_free_memory()   # what the job freed goes back to the system, not into the next job's peak


def _run_job(photo_path, output_dir, settings: ReconstructSettings, emit, cancel: CancelToken, engines: EngineCache,
             job_id: str | None) -> dict[str, Any]:
    settings.validate()
    started = time.monotonic()
    engine_name, reason = choose_engine(settings)
    engine_cls = engine_class(engine_name)
    progress = ProgressReporter((INPUT_STAGE, *engine_cls.stages), emit, cancel)
    progress("input", 0, 1, reason)
    log.info("%s", reason)
    photo = load_photo(photo_path)
    progress("input", 1, 1, f"{photo.size[0]}x{photo.size[1]} {photo.format}"
             + (", alpha used" if photo.has_alpha else ", no alpha: the background will be removed"))

    job = JobFolder(output_dir, photo.name)
    job.create()
    try:
        with JobLog(job.file("job.log")) as job_log:
            log.info("job %s: %s -> %s (engine %s, seed %d)", job_id, photo.path, job.path, engine_name,
                     settings.seed)
            for warning in photo.warnings:
                log.warning("input: %s", warning)
            engine = engines.get(engine_name)
            result = engine.reconstruct(photo, settings, job, progress, cancel)
            cancel.raise_if_set()
            progress.finish()
            glb = Path(result.glb)
            if not glb.is_file() or glb.stat().st_size == 0:
                raise SyncHumanError("internal.no_output", f"The {engine_name} engine wrote no GLB.",
                                     "This is a bug; please report it with job.log.")
            metadata = {
                "job_id": job_id,
                "engine": engine_name,
                "engine_choice": reason,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": versions(),
                "seed": settings.seed,
                "settings": settings.to_dict(),
                "input": {"path": str(photo.path), "sha256": photo.sha256, "format": photo.format,
                          "size": list(photo.original_size), "has_alpha": photo.has_alpha,
                          "warnings": photo.warnings},
                "warnings": list(dict.fromkeys(job_log.warnings)),
                "timings_s": {**progress.timings, "total": round(time.monotonic() - started, 3)},
                "outputs": {"glb": glb.name, "views": {k: str(Path(v).relative_to(job.path))
                                                       for k, v in result.views.items()}},
                **{k: v for k, v in result.metadata.items() if k not in ("engine", "settings", "input")},
            }
            write_json(job.file("job.json"), metadata)
        final = job.commit()
    except BaseException as exc:
        job.discard()
        full = disk_full_error(exc)
        if full:  # whatever wrote the file (an exporter, a logger), the user can fix this one
            raise full from exc
        raise
    log.info("job %s done in %.2f s: %s", job_id, time.monotonic() - started, final)
    return {
        "job": job_id,
        "job_dir": str(final),
        "glb": str(final / glb.name),
        "views": {k: str(final / rel) for k, rel in metadata["outputs"]["views"].items()},
        "metadata": metadata,
    }
