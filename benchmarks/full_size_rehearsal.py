"""A full-size dress rehearsal of the synchuman engine on the CPU (issue 18).

Writes a complete weights folder at the released sizes, in the released layout and formats, with
seeded random weights; runs `synchuman weights verify` on it; then runs the real engine end to end
through the CLI (`synchuman reconstruct --engine synchuman --device cpu`) on a real photo to a GLB,
in a child process that records per stage: wall time, peak RSS, the largest single module output
(forward hooks) and which module made it; then voxel, Gaussian and mesh counts. Prints a table and
removes the folder.

    nice -n 19 python benchmarks/full_size_rehearsal.py                  # write, verify, stage 1 + 2 + GLB
    nice -n 19 python benchmarks/full_size_rehearsal.py --stages 1       # write, verify, stage 1 only
    python benchmarks/full_size_rehearsal.py --stages shapes --weights-dir DIR   # activation shapes, no compute
    python benchmarks/full_size_rehearsal.py --report OUT/rehearsal_stats.json   # the table of a (stopped) run
    ... --keep --tmp /work/tmp    # keep the folder (printed) for a later --weights-dir run
    ... --weights-dir DIR         # reuse a folder written before (not removed)

The folder (bf16 on disk by default, ≈ 8.6 GB; fp32 doubles it):
- ckpts/OneStage, ckpts/SecondStage: the released configs (shared/golden/configs) and one
  safetensors file per network with exactly the released keys and shapes (shared/golden/keys);
  the text encoder's weights are left out, as `synchuman weights download` does;
- dinov2/dinov2_vitl14_reg4_pretrain.pth: a torch.save'd dict as Meta's torch-hub file (read back
  with weights_only=True);
- prompt_embeds/fixed_prompt_embeds_7view.safetensors: (7, 77, 1024) per branch.
No background-removal model is written (optional; the photo gets the classical foreground step).

Random weights: N(0, 1)/sqrt(fan_in) for matrices and kernels, 1 + 0.1 N for norm scales, 0.1 N for
other vectors (the golden set's scheme), DINOv2 layer scales 0.1; activations stay finite in fp32.
Random weights give an arbitrary structure, so the child shifts the sparse-structure decoder's
output by one constant (= its last bias, as tests/tiny_weights.py does) to leave --voxels occupied.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = Path(os.environ.get("SYNCHUMAN_GOLDEN_SHARED", ROOT.parent / "shared" / "golden"))
PHOTO = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"
SEED = 20261203
# released key list -> file in the weights folder
NETWORKS = {
    "SyncHuman_2D3DCrossSpaceDiffusion.json":
        "ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion/diffusion_pytorch_model.safetensors",
    "vae_AutoencoderKL.json": "ckpts/OneStage/vae/diffusion_pytorch_model.safetensors",
    "image_encoder_CLIPVisionModelWithProjection.json": "ckpts/OneStage/image_encoder/model.safetensors",
    "SparseStructureDecoder.json": "ckpts/OneStage/sparse_structure_decoder/model.safetensors",
    "SLatFlowModel.json": "ckpts/SecondStage/ckpts/slat_flow/model.safetensors",
    "SLatGaussianDecoder.json": "ckpts/SecondStage/ckpts/decoder_GS/model.safetensors",
    "SLatMeshDecoder.json": "ckpts/SecondStage/ckpts/decoder_Mesh/model.safetensors",
}


def random_tensor(key: str, shape: tuple, generator, dtype):
    import torch

    if len(shape) > 1:
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        t = torch.randn(shape, generator=generator).div_(fan_in ** 0.5)
    else:
        t = 0.1 * torch.randn(shape, generator=generator)
        leaf = key.rsplit(".", 2)
        if key.endswith(".weight") and ("norm" in leaf[-2] or "ln" in leaf[-2]):
            t += 1.0
        elif key.endswith(("ls1.gamma", "ls2.gamma")):
            t.fill_(0.1)
    return t.to(dtype)


def write_weights(dest: Path, dtype_name: str = "bf16") -> dict:
    """The released-size folder; returns {relative file: bytes}."""
    import torch
    from safetensors.torch import save_file

    from synchuman.models.dinov2 import DinoV2, DinoV2Config
    from synchuman.models.loading import build_on_meta
    from synchuman.weights import DINOV2_FILE, PROMPT_EMBEDS_FILE

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    gen = torch.Generator().manual_seed(SEED)
    shutil.copytree(GOLDEN / "configs", dest / "ckpts", dirs_exist_ok=True)
    for p in (dest / "ckpts").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)  # the shared copy is read-only
    sizes = {}
    for keys_file, rel in NETWORKS.items():
        rows = json.loads((GOLDEN / "keys" / keys_file).read_text())
        state = {key: random_tensor(key, tuple(shape), gen, dtype) for key, shape, _ in rows}
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(dest / rel))
        del state
        sizes[rel] = (dest / rel).stat().st_size
    dino = build_on_meta(lambda: DinoV2(DinoV2Config()))
    state = {k: random_tensor(k, tuple(v.shape), gen, dtype) for k, v in dino.state_dict().items()}
    (dest / DINOV2_FILE).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dest / DINOV2_FILE)
    sizes[DINOV2_FILE] = (dest / DINOV2_FILE).stat().st_size
    prompts = {name: (0.5 * torch.randn(7, 77, 1024, generator=gen)).contiguous() for name in ("normal", "clr")}
    (dest / PROMPT_EMBEDS_FILE).parent.mkdir(parents=True, exist_ok=True)
    save_file(prompts, str(dest / PROMPT_EMBEDS_FILE))
    sizes[PROMPT_EMBEDS_FILE] = (dest / PROMPT_EMBEDS_FILE).stat().st_size
    return sizes


def trace_shapes(weights: Path, dtype_name: str = "bf16") -> list[tuple]:
    """The dense stage-1 networks and DINOv2 built on the meta device at the released sizes and run on
    meta tensors of the method's input sizes: exact output shapes of every module, no memory, no compute.
    Returns (network, GiB, module, shape) of each network's largest module output."""
    import torch

    from synchuman.models.conditioning import load_clip_image_encoder, load_vae
    from synchuman.models.dinov2 import DinoV2, DinoV2Config
    from synchuman.models.loading import build_on_meta
    from synchuman.models.registry import build_model, read_model_config

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    one = weights / "ckpts" / "OneStage"
    meta = lambda *shape: torch.empty(*shape, device="meta", dtype=dtype)  # noqa: E731
    joint = build_model(*read_model_config(one / "SyncHuman_2D3DCrossSpaceDiffusion")).to(dtype)
    vae = load_vae(one / "vae", "meta").to(dtype)
    dino = build_on_meta(lambda: DinoV2(DinoV2Config())).to(dtype)
    cases = [  # (network, model, call) at the CFG batch and the sizes the engine uses
        ("joint model, one CFG forward (20 views at 96², 2 grids at 16³)", joint, lambda m: m(
            meta(20, 8, 96, 96), 999.0, meta(20, 77, 1024), meta(20, 2048), meta(2, 8, 16, 16, 16),
            torch.tensor([999.0], device="meta", dtype=dtype), meta(2, 1374, 1024))),
        ("VAE decode, one 768² view", vae, lambda m: m.decode(meta(1, 4, 96, 96))),
        ("VAE encode, 2 images at 768²", vae, lambda m: m.encode(meta(2, 3, 768, 768))),
        ("CLIP image encoder, 2 images at 224²", load_clip_image_encoder(one / "image_encoder", "meta").to(dtype),
         lambda m: m(meta(2, 3, 224, 224))),
        ("SS decoder, 16³ -> 64³", build_model(*read_model_config(one / "sparse_structure_decoder")).to(dtype),
         lambda m: m(meta(1, 8, 16, 16, 16))),
        ("DINOv2, one 518² image", dino, lambda m: m(meta(1, 3, 518, 518))),
        ("DINOv2, one 896² view (4 layers)", dino, lambda m: m.get_intermediate_layers(meta(1, 3, 896, 896),
                                                                                    [5, 11, 17, 23])),
    ]
    rows = []
    for network, model, call in cases:
        names = {id(m): n for n, m in model.named_modules()}
        best = [(0, "", ())]

        def hook(module, inputs, output, names=names, best=best):
            outs = output if isinstance(output, (tuple, list)) else [getattr(output, "sample", output)]
            for t in outs:
                if isinstance(t, torch.Tensor) and t.numel() * t.element_size() > best[0][0]:
                    best[0] = (t.numel() * t.element_size(), names.get(id(module), "?"), tuple(t.shape))
        handle = torch.nn.modules.module.register_module_forward_hook(hook)
        try:
            with torch.no_grad():
                call(model)
        finally:
            handle.remove()
        size, module, shape = best[0]
        rows.append((network, size / 1024 ** 3, module, shape))
    return rows


def synchuman_cli(*args: str, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synchuman", *args], capture_output=capture, text=True)


def run_engine(weights: Path, out: Path, args) -> dict:
    """The engine through the CLI in an instrumented child process; returns its measurements."""
    stats_path = out / "rehearsal_stats.json"
    child = [sys.executable, str(HERE / "rehearsal_probe.py"), str(stats_path), str(args.voxels),
             args.stages, "reconstruct", str(args.photo), "-o", str(out), "--json", "--engine", "synchuman",
             "--weights", str(weights), "--device", "cpu", "--memory-mode", args.memory_mode,
             "--stage1-steps", str(args.stage1_steps), "--stage2-steps", str(args.stage2_steps),
             "--precision", args.precision]
    started = time.perf_counter()
    proc = subprocess.run(child, capture_output=True, text=True)
    wall = time.perf_counter() - started
    (out / "cli_stdout.jsonl").write_text(proc.stdout)
    (out / "cli_stderr.txt").write_text(proc.stderr)
    if not stats_path.is_file():
        raise SystemExit(f"the engine run left no statistics (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    stats = json.loads(stats_path.read_text())
    stats.update(exit_code=proc.returncode, wall_s=round(wall, 1))
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    stats["events_tail"] = results[-2:]
    return stats


def print_table(stats: dict) -> None:
    print("| stage | wall s | CPU s | peak RSS GiB | largest module output | made by |")
    print("|---|---|---|---|---|---|")
    for row in stats["stages"]:
        cpu = f"{row['cpu_s']:.0f}" if "cpu_s" in row else "-"  # runs before the probe counted CPU time
        print(f"| {row['stage']} | {row['wall_s']:.1f} | {cpu} | {row['peak_rss_gib']:.2f} | "
              f"{row['largest_output']} | {row['largest_by']} |")
    print()
    print("| network | largest module output | module | stage |")
    print("|---|---|---|---|")
    for network, row in stats.get("per_network", {}).items():
        print(f"| {network} | {row['output']} | {row['by']} | {row['stage']} |")
    print()
    for key in ("voxels_unshifted", "voxels", "ss_logit_shift", "gaussians", "raw_mesh", "glb_faces",
                "process_peak_rss_gib", "finished", "current", "exit_code", "wall_s"):
        if key in stats:
            print(f"- {key}: {stats[key]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stages", choices=("all", "1", "verify", "shapes"), default="all",
                    help="verify: write and verify the folder only; shapes: also trace the dense networks' "
                         "activation shapes on the meta device; 1: the engine until stage 1 is decoded; "
                         "all: the engine to the GLB")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="parent folder of the temporary weights folder")
    ap.add_argument("--weights-dir", help="reuse a folder written before (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the written folder")
    ap.add_argument("--disk-dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    ap.add_argument("--memory-mode", choices=("full", "balanced", "low"), default="balanced")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    ap.add_argument("--stage1-steps", type=int, default=1)
    ap.add_argument("--stage2-steps", type=int, default=1)
    ap.add_argument("--voxels", type=int, default=10_000, help="occupied voxels the SS output shift aims at")
    ap.add_argument("--photo", type=Path, default=PHOTO)
    ap.add_argument("--json", action="store_true", help="print the raw statistics as JSON too")
    ap.add_argument("--report", type=Path, metavar="STATS_JSON",
                    help="only print the table of a run's statistics (also of a run stopped midway)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "backend"))
    if args.report:
        print_table(json.loads(args.report.read_text()))
        return 0

    work = Path(tempfile.mkdtemp(prefix="synchuman-rehearsal-", dir=args.tmp))
    weights = Path(args.weights_dir) if args.weights_dir else work / "weights"
    try:
        report: dict = {"load": os.getloadavg()}
        if not args.weights_dir:
            t0 = time.perf_counter()
            sizes = write_weights(weights, args.disk_dtype)
            report["write_s"] = round(time.perf_counter() - t0, 1)
            report["folder_gb"] = round(sum(sizes.values()) / 1e9, 2)
            print(f"wrote {weights} ({report['folder_gb']} GB, {args.disk_dtype}) in {report['write_s']} s", flush=True)
        t0 = time.perf_counter()
        verify = synchuman_cli("weights", "verify", "--dir", str(weights), "--json")
        report["verify_s"] = round(time.perf_counter() - t0, 1)
        report["verify_exit"] = verify.returncode
        print(f"weights verify: exit {verify.returncode} in {report['verify_s']} s", flush=True)
        if verify.returncode != 0:
            print(verify.stdout[-4000:], verify.stderr[-4000:])
            return 1
        if args.stages == "verify":
            return 0
        if args.stages == "shapes":
            print(f"| network ({args.disk_dtype}) | largest module output GiB | module | shape |")
            print("|---|---|---|---|")
            for network, gib, module, shape in trace_shapes(weights, args.disk_dtype):
                print(f"| {network} | {gib:.2f} | {module} | {shape} |")
            return 0
        stats = run_engine(weights, work / "out", args)
        report.update(stats)
        report["load_after"] = os.getloadavg()
        print_table(report)
        print(f"- load average before / after: {report['load']} / {report['load_after']}")
        if args.json:
            print(json.dumps(report, indent=1))
        return 0 if stats["exit_code"] == 0 else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
