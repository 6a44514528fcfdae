"""Runs the synchuman CLI in this process with measuring probes (child of full_size_rehearsal.py).

    python benchmarks/rehearsal_probe.py STATS.json VOXELS {all|1} reconstruct PHOTO -o OUT ...

Probes, none of which changes what the engine computes except the one stated:
- per progress stage: wall time, peak RSS (a thread samples /proc/self/statm every 50 ms), the
  largest single module output (a global forward hook) and the module that made it, named by its
  path in the loaded pipeline (e.g. stage1.joint.unet.down_blocks.0...);
- the largest output per network (joint, vae, image_encoder, dinov2, ss_decoder, flow, decoders);
- the sparse-structure decoder's output is shifted by one constant so that VOXELS voxels are
  occupied: the same as shifting its last bias (random weights give an arbitrary structure);
- counts: voxels, Gaussians, raw mesh vertices / faces, the GLB's faces (job.json).
With stage "1" the process writes its statistics and exits when stage 2 would begin.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import sys
import threading
import time
import weakref
from pathlib import Path

import torch

STATS, VOXELS, ONLY = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
PAGE = os.sysconf("SC_PAGE_SIZE")
GIB = 1024 ** 3


class Probe:
    def __init__(self):
        self.stage = "start"
        self.rows: dict[str, dict] = {}
        self.per_network: dict[str, dict] = {}
        # id -> (weak reference, path): a freed module's id can be reused by a later one, so a name
        # counts only while its module is alive.
        self.names: dict[int, tuple] = {}
        self.counts: dict = {}
        self.lock = threading.Lock()
        self._enter("start")
        threading.Thread(target=self._sample, daemon=True).start()

    def _enter(self, stage: str) -> None:
        now = time.perf_counter()
        if self.stage in self.rows:
            self.rows[self.stage]["end"] = now
        cpu = time.process_time()
        if self.stage in self.rows:
            self.rows[self.stage]["cpu_end"] = cpu
        self.stage = stage
        self.rows.setdefault(stage, {"stage": stage, "start": now, "end": now, "cpu_start": cpu, "cpu_end": cpu,
                                     "rss": 0, "out_bytes": 0, "out": "", "by": ""})

    def _sample(self) -> None:
        for tick in itertools.count():
            if tick % 600 == 599:  # every 30 s: a run stopped midway keeps what it measured
                self.write(final=False)
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * PAGE
            with self.lock:
                row = self.rows[self.stage]
                row["rss"] = max(row["rss"], rss)
            time.sleep(0.05)

    def progress(self, stage: str) -> None:
        with self.lock:
            if stage == self.stage:
                return
            self._enter(stage)
        self.write(final=False)  # a run stopped midway keeps what it measured

    def name_modules(self, engine) -> None:
        """Paths of every module of the loaded pipelines (new roots only)."""
        roots = {"dinov2": engine.dinov2}
        for owner in ("stage1", "stage2"):
            obj = getattr(engine, owner)
            if obj is not None:
                roots.update({f"{owner}.{k}": v for k, v in vars(obj).items() if isinstance(v, torch.nn.Module)})
        for root, module in roots.items():
            if module is None or self._name(module) is not None:
                continue
            for path, sub in module.named_modules():
                if self._name(sub) is None:
                    self.names[id(sub)] = (weakref.ref(sub), f"{root}.{path}" if path else root)

    def _name(self, module) -> str | None:
        ref, name = self.names.get(id(module), (None, None))
        return name if ref is not None and ref() is module else None

    def on_output(self, module, output) -> None:
        size, shape, dtype = _largest(output)
        if not size:
            return
        name = self._name(module) or type(module).__name__
        desc = f"{tuple(shape)} {str(dtype).replace('torch.', '')} = {size / GIB:.2f} GiB"
        with self.lock:
            row = self.rows[self.stage]
            if size > row["out_bytes"]:
                row.update(out_bytes=size, out=desc, by=f"{name} ({type(module).__name__})")
            network = name.split(".")[1] if name.startswith("stage") else name.split(".")[0]
            best = self.per_network.setdefault(network, {"bytes": 0})
            if size > best["bytes"]:
                best.update(bytes=size, output=desc, by=name, stage=self.stage)

    def write(self, final: bool = True) -> None:
        with self.lock:
            if final:
                self._enter("end")
            now, cpu = time.perf_counter(), time.process_time()
            stages = [{"stage": r["stage"], "wall_s": (r["end"] if r["stage"] != self.stage else now) - r["start"],
                       # CPU seconds of the whole process (all threads): the figure a busy machine does not distort
                       "cpu_s": (r["cpu_end"] if r["stage"] != self.stage else cpu) - r["cpu_start"],
                       "peak_rss_gib": r["rss"] / GIB, "largest_output": r["out"] or "-",
                       "largest_by": r["by"] or "-"} for r in self.rows.values() if r["stage"] != "end"]
        STATS.parent.mkdir(parents=True, exist_ok=True)
        job = next(STATS.parent.glob("*/job.json"), None)
        if job is not None:
            meta = json.loads(job.read_text())
            self.counts["job"] = {k: meta.get(k) for k in ("engine", "timings_s", "stage1", "stage2", "warnings")}
            post = meta.get("postprocess") or {}
            if "faces_out" in post:
                self.counts["glb_faces"] = post["faces_out"]
        STATS.write_text(json.dumps({
            "stages": stages, "per_network": self.per_network, **self.counts,
            "process_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2),
            "threads": torch.get_num_threads(), "finished": final, "current": self.stage},
            indent=1, default=str))


def _largest(output):
    """(bytes, shape, dtype) of the largest tensor in a module's output (tensors, tuples, sparse tensors)."""
    best = (0, (), None)
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            size = item.numel() * item.element_size()
            if size > best[0]:
                best = (size, item.shape, item.dtype)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif hasattr(item, "feats"):
            stack.append(item.feats)
    return best


def phase(stage: str, message: str) -> str | None:
    """Finer rows than the engine's stages, from its progress messages (None: stay in the current row)."""
    if stage == "stage1":
        return "stage1 conditions (CLIP, VAE, DINOv2 518)" if message == "preprocessing" else None
    if stage == "stage2":
        if message.startswith("loading"):
            return "stage2 load"
        if message.startswith("sampling"):
            return "stage2 flow"
        if message.startswith("structured latent step"):
            done, total = message.rsplit(" ", 1)[-1].split("/")
            return "stage2 DINOv2 896 features" if done == total else None
        if message.startswith("multiview"):
            return "stage2 decoders + FlexiCubes"
        return None
    return stage


def shift_occupancy(probe: Probe):
    """Forward hook for the SS decoder: one constant added to every logit (its last bias) so that
    VOXELS logits are positive."""
    def hook(module, inputs, logits):
        flat = logits.flatten().float()
        top = torch.topk(flat, min(VOXELS + 1, flat.numel())).values
        shift = -float(top[-2] + top[-1]) / 2
        before = int((flat > 0).sum())
        probe.counts.update(ss_logit_shift=round(shift, 4), voxels_unshifted=before, voxels=VOXELS)
        return logits + shift
    return hook


def main() -> int:
    from synchuman import cli
    from synchuman.engines.synchuman import SyncHumanEngine
    from synchuman.pipelines.stage2 import Stage2Pipeline

    probe = Probe()
    torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: probe.on_output(m, o))
    reconstruct = SyncHumanEngine.reconstruct
    run_from_stage1 = Stage2Pipeline.run_from_stage1
    hooked = set()

    def stage1_joint(engine):
        return engine.stage1.joint if engine.stage1 is not None else None

    def probed_reconstruct(engine, photo, settings, job, progress, cancel):
        def tracked(stage, done, total, message=""):
            probe.name_modules(engine)
            if stage == "stage1_decode" and engine.stage1 is not None and id(engine.stage1) not in hooked:
                hooked.add(id(engine.stage1))
                engine.stage1.ss_decoder.register_forward_hook(shift_occupancy(probe))
            if stage == "stage2" and ONLY == "1":
                probe.write()
                os._exit(0)
            if stage1_joint(engine) is not None and id(stage1_joint(engine)) not in hooked:
                hooked.add(id(stage1_joint(engine)))
                stage1_joint(engine).register_forward_pre_hook(lambda m, a: probe.progress("stage1 sampling"))
            row = phase(stage, message)
            if row is not None:
                probe.progress(row)
            return progress(stage, done, total, message)
        return reconstruct(engine, photo, settings, job, tracked, cancel)

    def probed_run(self, stage1_result, cond, dinov2=None, **kwargs):
        result = run_from_stage1(self, stage1_result, cond, dinov2, **kwargs)
        probe.counts.update(gaussians=int(result.gaussians.positions.shape[0]),
                            raw_mesh={"vertices": int(result.mesh_vertices.shape[0]),
                                      "faces": int(result.mesh_faces.shape[0])})
        return result

    SyncHumanEngine.reconstruct = probed_reconstruct
    Stage2Pipeline.run_from_stage1 = probed_run
    code = cli.main(sys.argv[4:])
    probe.write()
    return code


if __name__ == "__main__":
    sys.exit(main())
