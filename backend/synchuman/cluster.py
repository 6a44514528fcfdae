"""Batches on a Ray cluster: one long-lived worker actor per GPU (or per CPU slot for the preview
engine) keeps its models loaded; the driver hands out photos, retries items whose worker died,
and writes the same job folders and `batch.json` as the in-process batch (`batch.py`).

Photos are read by the workers from their paths, so the photos and the output folder must be on a
filesystem every node reaches (a shared mount); photos smaller than SHIP_BYTES_BELOW are sent as bytes
instead, so only the output folder has to be shared. A local cluster is started on loopback only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from .batch import close_batch, is_deterministic, open_batch
from .engines import ReconstructSettings, choose_engine
from .errors import SyncHumanError
from .jobs import CancelToken, process_is_dead, sweep_dead_partials

log = logging.getLogger("synchuman.cluster")

SHIP_BYTES_BELOW = 8 * 1024 * 1024
CANCEL_GRACE_S = 15.0


class ReconstructionWorker:
    """Runs reconstructions one at a time; `cancel` arrives on a second thread of the actor."""

    def __init__(self) -> None:
        from .runner import EngineCache

        self.engines = EngineCache()
        self.token: CancelToken | None = None
        logging.basicConfig(level=logging.INFO)

    def identity(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def reconstruct(self, photo: str, photo_bytes: bytes | None, output_dir: str,
                    settings: dict[str, Any], job_id: str | None = None) -> dict[str, Any]:
        from .errors import Cancelled, internal_error
        from .runner import run_reconstruction

        self.token = CancelToken()
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="synchuman-photo-") as tmp:
                path = Path(photo)
                if photo_bytes is not None:  # shipped: recreate it under its own name on this node
                    path = Path(tmp) / Path(photo).name
                    path.write_bytes(photo_bytes)
                result = run_reconstruction(path, output_dir, ReconstructSettings.from_dict(settings),
                                            lambda event: None, self.token, self.engines,
                                            job_id or Path(photo).name)
            return {"ok": True, "result": {"job_dir": result["job_dir"], "glb": result["glb"],
                                           "metadata": {"warnings": result["metadata"].get("warnings", [])}},
                    "seconds": time.monotonic() - started}
        except Cancelled as exc:
            return {"ok": False, "error": exc.to_dict(), "cancelled": True}
        except SyncHumanError as exc:
            return {"ok": False, "error": exc.to_dict()}
        except MemoryError:
            return {"ok": False, "error": {"code": "resources.out_of_memory", "message": "The worker ran out of "
                                           "memory.", "hint": "Use fewer workers per node or lighter settings."}}
        except Exception as exc:  # noqa: BLE001 - reported to the driver, which decides on a retry
            return {"ok": False, "error": internal_error(exc).to_dict()}

    def cancel(self) -> None:
        if self.token:
            self.token.set("Cancelled by the batch driver.")


def _init_ray(address: str | None, workers: int | None):
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # A private local cluster reachable only through loopback.
        ray.init(num_cpus=max(os.cpu_count() or 1, workers or 1), include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1")
    return ray


def run_batch_on_ray(inputs: list[str | Path], output_dir: str | Path, settings: ReconstructSettings,
                     emit: Callable[[dict], None], cancel: CancelToken, retries: int = 2,
                     address: str | None = None, workers: int | None = None,
                     gpus_per_worker: float = 1.0) -> dict[str, Any]:
    if importlib.util.find_spec("ray") is None:
        raise SyncHumanError("cluster.unavailable", "Ray is not installed.",
                             "pip install 'ray==2.60.0' on the driver and every worker node.")
    settings.validate()
    engine, reason = choose_engine(settings)  # resolve `auto` once, on the driver
    job_settings = {**settings.to_dict(), "engine": engine}
    batch_log, progress, todo = open_batch(inputs, output_dir, settings, emit, f"ray:{address or 'local'}")
    output_dir = batch_log.output_dir
    ray = _init_ray(address, workers)

    resources = ray.cluster_resources()
    if engine == "synchuman":
        per_worker = {"num_gpus": gpus_per_worker, "num_cpus": 1}
        default_workers = int(resources.get("GPU", 0) // gpus_per_worker)
        if default_workers == 0:
            if address is None:
                ray.shutdown()
            raise SyncHumanError("cluster.no_gpu", "The Ray cluster has no GPU for the synchuman engine.",
                                 "Add GPU nodes (ray start --num-gpus ...) or use --engine preview.")
    else:
        per_worker = {"num_cpus": 1}
        default_workers = max(1, int(resources.get("CPU", 1)))
    n_workers = max(1, min(workers or default_workers, len(todo) or 1))
    Actor = ray.remote(max_concurrency=2, max_restarts=0)(ReconstructionWorker).options(**per_worker)
    progress.event("workers", engine=engine, reason=reason, workers=n_workers)
    pending: deque[Path] = deque(todo)

    def new_worker():
        actor = Actor.remote()
        ident = ray.get(actor.identity.remote())
        return actor, f"{ident['host']}:{ident['pid']}", ident["pid"]

    idle = [new_worker() for _ in range(n_workers)] if pending else []
    running: dict[Any, tuple[Path, tuple]] = {}   # object ref -> (photo, worker)
    cancel_sent_at: float | None = None
    killed_pids: list[int] = []

    def start(photo: Path, worker: tuple) -> None:
        item = batch_log.item(photo)
        item.begin_attempt(worker[1])
        batch_log.save()  # the attempt's job id is logged before the job can commit
        data = photo.read_bytes() if photo.is_file() and photo.stat().st_size < SHIP_BYTES_BELOW else None
        ref = worker[0].reconstruct.remote(str(photo), data, str(output_dir), job_settings, item.job_id)
        running[ref] = (photo, worker)
        progress.running[str(photo)] = worker[1]
        progress.event("item_started", photo=str(photo), worker=worker[1], worker_pid=worker[2],
                       attempt=item.attempts)

    try:
        while pending or running:
            if cancel.is_set() and cancel_sent_at is None:
                cancel_sent_at = time.monotonic()
                for photo in pending:
                    batch_log.item(photo).status = "cancelled"
                pending.clear()
                for _ref, (_photo, worker) in running.items():
                    worker[0].cancel.remote()
            if cancel_sent_at and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S:
                for ref, (photo, worker) in list(running.items()):
                    ray.kill(worker[0])  # did not stop in time: the process goes, its partial folder is
                    killed_pids.append(worker[2])  # removed below
                    batch_log.item(photo).status = "cancelled"
                    running.pop(ref)
                break
            while pending and idle and not cancel.is_set():
                start(pending.popleft(), idle.pop())
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in ready:
                photo, worker = running.pop(ref)
                progress.running.pop(str(photo), None)
                item = batch_log.item(photo)
                try:
                    outcome = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.OutOfMemoryError) as exc:
                    outcome = {"ok": False, "worker_died": True,
                               "error": {"code": "worker.died", "message": f"Worker {worker[1]} died: "
                                         f"{type(exc).__name__}", "hint": "The item is retried on another worker."}}
                    worker = None if cancel.is_set() else new_worker()  # replace the dead worker
                if worker is not None:
                    idle.append(worker)
                if outcome["ok"]:
                    item.record_result(outcome["result"])
                    item.seconds = round(outcome["seconds"], 3)
                    progress.done += 1
                    progress.event("item_done", photo=str(photo), job_dir=item.job_dir, seconds=item.seconds,
                                   worker=item.worker)
                elif outcome.get("cancelled") or cancel.is_set():
                    item.status, item.error = "cancelled", outcome["error"]
                elif not is_deterministic(outcome["error"]) and item.attempts <= retries:
                    item.history.append({"attempt": item.attempts, "worker": item.worker, "error": outcome["error"]})
                    item.status = "pending"
                    pending.appendleft(photo)
                    progress.event("item_retry", photo=str(photo), error=outcome["error"], worker=item.worker)
                else:
                    item.status, item.error = "failed", outcome["error"]
                    progress.failed += 1
                    progress.event("item_failed", photo=str(photo), error=outcome["error"], worker=item.worker)
                batch_log.save()
    finally:
        for worker in idle:
            ray.kill(worker[0])
        deadline = time.monotonic() + 5.0  # a killed worker's folder is swept once the process is gone
        while any(not process_is_dead(pid) for pid in killed_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        sweep_dead_partials(output_dir)
        if address is None:
            ray.shutdown()
    return close_batch(batch_log, progress, cancel.is_set())
