"""Headless batch: many photos → humans in .blend files, an asset library, renders, a log.

    blender -b --factory-startup --python-exit-code 1 -P <extension>/batch.py -- \\
        --input PHOTO_OR_FOLDER [...] --output DIR [--library DIR] [--engine auto|preview|synchuman] \\
        [--height-m 1.75] [--person-box X0,Y0,X1,Y1] [--no-rig] [--rig-names native|mixamo|rigify] \\
        [--rest-pose photo|a-pose|t-pose] [--render front|turntable|none] [--python BACKEND_PYTHON] \\
        [--ray [ADDRESS] [--workers N] [--gpus-per-worker G]]
    python -m synchuman_blender.batch --input ... --output ...        (the bpy module)

With --ray the photos are reconstructed first by the backend's cluster runner
(`synchuman batch --ray`, docs/cluster.md; its own log is jobs/batch.json), then imported here
one by one exactly as without it.

Uses the blocking JobClient (timers never fire in background runs) and prints one line per
backend event. Writes, under --output: jobs/<photo>/ (the backend's GLB, job.json, log),
blend/<name>.blend, renders/<name>_*.png, contact_sheet.png and batch.json (per-item status,
time, error). A rerun skips items already done with the same settings. One bad photo never
stops the batch; the exit code is 1 when any item failed (130 when interrupted).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone

if __package__:  # run as `blender -P batch.py` this file has no package: _run_as_script loads it with one
    from .protocol import (DEFAULT_HEIGHT_M, DEFAULT_MAX_FACES, DEFAULT_TEXTURE_SIZE, DEVICE_CHOICES,
                           ENGINE_CHOICES, MEMORY_MODES, PHOTO_SUFFIXES, PRECISION_CHOICES, REST_POSE_CHOICES,
                           RIG_NAME_CHOICES, TEXTURE_SIZES, parse_person_box, safe_name)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LOG_NAME = "batch.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synchuman_blender.batch",
                                description="Reconstruct humans from photos in a headless Blender.")
    p.add_argument("--input", "-i", required=True, action="append", metavar="PHOTO_OR_FOLDER",
                   help="a photo or a folder of photos (repeatable)")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    p.add_argument("--library", metavar="DIR", help="also write each human as an asset .blend into this library")
    p.add_argument("--catalog", default="Generated/Humans", help="asset catalog path (default Generated/Humans)")
    p.add_argument("--tags", default="human, generated", help="comma-separated asset tags")
    p.add_argument("--author", default="SyncHuman")
    p.add_argument("--engine", choices=ENGINE_CHOICES, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height-m", type=float, default=DEFAULT_HEIGHT_M)
    p.add_argument("--texture-size", type=int, choices=TEXTURE_SIZES, default=DEFAULT_TEXTURE_SIZE)
    p.add_argument("--max-faces", type=int, default=DEFAULT_MAX_FACES)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto")
    p.add_argument("--memory-mode", choices=MEMORY_MODES, default="balanced")
    p.add_argument("--person-box", type=_person_box, metavar="X0,Y0,X1,Y1",
                   help="reconstruct the person overlapping this box of each photo (pixels), for photos of several")
    p.add_argument("--rig", action=argparse.BooleanOptionalAction, default=True,
                   help="give each human a skeleton and skin weights (default: on)")
    p.add_argument("--rig-names", choices=RIG_NAME_CHOICES, default="native", help="bone names (docs/rig.md)")
    p.add_argument("--rest-pose", choices=REST_POSE_CHOICES, default="photo", help="the rigged human's rest pose")
    p.add_argument("--render", choices=("front", "turntable", "none"), default="none",
                   help="render each result (Cycles on the CPU) and a contact sheet")
    p.add_argument("--resolution", type=int, default=512, help="render size in pixels (square)")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument("--python", metavar="EXE", help="backend interpreter (default: $SYNCHUMAN_BACKEND_PYTHON "
                                                   "or the project's .venv)")
    p.add_argument("--weights", metavar="DIR", help="weights folder for the backend")
    p.add_argument("--no-skip", action="store_true", help="redo items that are already done")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="reconstruct on a Ray cluster (`synchuman batch --ray`; a local one when no address), "
                        "then import, mark and render here")
    p.add_argument("--workers", type=int, help="Ray workers (default: one per GPU, or per CPU for preview)")
    p.add_argument("--gpus-per-worker", type=float, default=1.0)
    return p


def _person_box(text: str) -> list[int]:
    try:
        return parse_person_box(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def script_argv(argv: list[str]) -> list[str]:
    """Blender passes its own arguments too; ours follow "--"."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def collect_photos(inputs: list[str]) -> list[str]:
    photos: list[str] = []
    for entry in inputs:
        path = os.path.abspath(os.path.expanduser(entry))
        if os.path.isdir(path):
            photos += [os.path.join(path, n) for n in sorted(os.listdir(path))
                       if not n.startswith(".") and n.lower().endswith(PHOTO_SUFFIXES)
                       and os.path.isfile(os.path.join(path, n))]
        else:
            photos.append(path)  # a missing or bad file is reported as that item's failure
    seen: set[str] = set()
    return [p for p in photos if not (p in seen or seen.add(p))]


def unique_names(photos: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for photo in photos:
        stem = safe_name(os.path.splitext(os.path.basename(photo))[0])
        name, n = stem, 2
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        names[photo] = name
    return names


def settings_key(args: argparse.Namespace, settings: dict) -> str:
    """What makes a result reusable on rerun: job settings and what is made from it."""
    relevant = {**settings, "render": args.render, "resolution": args.resolution, "samples": args.samples,
                "library": os.path.abspath(args.library) if args.library else "", "catalog": args.catalog}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def write_log(path: str, log: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(log, f, indent=2)
    os.replace(tmp, path)  # a reader never sees half a log


def load_previous(path: str) -> dict[str, dict]:
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f).get("items", [])
        return {item["photo"]: item for item in items if isinstance(item, dict) and "photo" in item}
    except (OSError, ValueError, AttributeError):
        return {}


def _outputs_exist(item: dict) -> bool:
    outputs = item.get("outputs") or {}
    paths = [outputs.get("glb"), outputs.get("blend"), outputs.get("library"), *outputs.get("renders", [])]
    return all(os.path.isfile(p) for p in paths if p)


class EventPrinter:
    """One line per backend event for item `label`."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "progress":
            steps = f" {event.get('step')}/{event.get('total')}" if (event.get("total") or 0) > 1 else ""
            message = f" - {event['message']}" if event.get("message") else ""
            line = (f"{100 * float(event.get('fraction', 0)):5.1f}% [{int(event.get('stage_index', 0)) + 1}/"
                    f"{event.get('stage_count')}] {event.get('stage_label')}{steps}{message}")
        elif kind == "accepted":
            line = "accepted"
        elif kind == "result":
            line = f"result {event.get('glb')}"
        elif kind == "error":
            line = f"error [{event.get('code')}] {event.get('message')}"
        elif kind == "client.state":
            line = f"backend {event.get('state').lower()}"
        else:
            return
        print(f"[{self.label}] {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import bpy

    from . import assets, importer, render
    from .client import BackendConfig, JobClient, check_interpreter, default_backend_python

    args = parse_args(script_argv(sys.argv) if argv is None else argv)
    python = args.python or os.environ.get("SYNCHUMAN_BACKEND_PYTHON") or \
        default_backend_python(os.path.dirname(os.path.abspath(__file__)))
    problem = check_interpreter(python)
    if problem:
        print(f"error: {problem} Pass --python or set SYNCHUMAN_BACKEND_PYTHON.", file=sys.stderr)
        return EXIT_USAGE
    photos = collect_photos(args.input)
    if not photos:
        print("error: no photos found in --input", file=sys.stderr)
        return EXIT_USAGE

    out = os.path.abspath(args.output)
    for sub in ("jobs", "blend"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    log_path = os.path.join(out, LOG_NAME)
    previous = {} if args.no_skip else load_previous(log_path)
    settings = {"engine": args.engine, "seed": args.seed, "height_m": args.height_m,
                "texture_size": args.texture_size, "max_faces": args.max_faces, "device": args.device,
                "precision": args.precision, "memory_mode": args.memory_mode, "rig": args.rig,
                "rig_names": args.rig_names, "rest_pose": args.rest_pose}
    if args.person_box:
        settings["person_box"] = args.person_box
    key = settings_key(args, settings)
    names = unique_names(photos)
    client = JobClient(BackendConfig(python=python, weights_dir=args.weights or "",
                                     log_path=os.path.join(out, "backend.log"),
                                     client_name=f"synchuman_blender batch (Blender {bpy.app.version_string})"))
    log = {"version": 1, "started": _now(), "finished": None, "blender": bpy.app.version_string,
           "backend_python": python, "settings": settings, "render": args.render,
           "library": os.path.abspath(args.library) if args.library else None, "items": [],
           "summary": {}, "contact_sheet": None}
    interrupted = False
    started_all = time.monotonic()

    def already_done(photo: str) -> bool:
        before = previous.get(photo)
        return bool(before and before.get("status") in ("done", "skipped") and before.get("settings_key") == key
                    and _outputs_exist(before))

    if args.ray:  # the backend's cluster runner reconstructs them all first; this process imports them
        cluster_results, interrupted = run_on_ray(python, [p for p in photos if not already_done(p)], args,
                                                  settings, os.path.join(out, "jobs"))
        log["ray"] = args.ray

        def obtain(photo, label):
            return cluster_results.get(os.path.realpath(photo)) or {
                "type": "error", "code": "cluster.no_result", "message": "The cluster batch did not run this photo.",
                "hint": "See the backend's jobs/batch.json and rerun the batch (finished items are skipped)."}
    else:
        def obtain(photo, label):
            return client.run_job(photo, os.path.join(out, "jobs"), settings, on_event=EventPrinter(label))
    try:
        for index, photo in enumerate(photos, 1):
            label = f"{index}/{len(photos)} {os.path.basename(photo)}"
            before = previous.get(photo)
            if already_done(photo):
                item = {**before, "status": "skipped"}
                print(f"[{label}] skipped: already done ({before.get('outputs', {}).get('blend')})", flush=True)
            elif interrupted and args.ray and os.path.realpath(photo) not in cluster_results:
                continue
            else:
                item = _process(bpy, lambda: obtain(photo, label), photo, names[photo], label, args, out,
                                importer, assets, render)
                item["settings_key"] = key
            log["items"].append(item)
            log["backend"] = {k: v for k, v in client.hello.items() if k in ("version", "protocol", "engines")}
            write_log(log_path, _with_summary(log))
            if item["status"] == "cancelled":
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        client.stop(timeout=10)

    if args.render != "none":
        rows = [item.get("outputs", {}).get("renders", []) for item in log["items"]]
        try:
            sheet = render.contact_sheet(rows, os.path.join(out, "contact_sheet.png"))
            log["contact_sheet"] = sheet
        except Exception as exc:  # a missing sheet must not hide the items' results
            print(f"contact sheet failed: {exc}", file=sys.stderr)
    log["finished"] = _now()
    log["seconds"] = round(time.monotonic() - started_all, 2)
    write_log(log_path, _with_summary(log))
    summary = log["summary"]
    print(f"{summary['done']} done, {summary['failed']} failed, {summary['skipped']} skipped"
          f"{', interrupted' if interrupted else ''}; log: {log_path}", flush=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary["failed"] else EXIT_OK


def _process(bpy, obtain, photo, name, label, args, out, importer, assets, render) -> dict:
    """One item: `obtain()` gives the backend's final event (result or error); then import, render,
    library file and .blend."""
    started = time.monotonic()
    item = {"photo": photo, "name": name, "status": "failed", "started": _now(), "seconds": None,
            "job_id": None, "error": None, "outputs": {}}
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)  # every item starts from an empty scene
        final = obtain()
        item["job_id"] = final.get("job")
        if final["type"] == "error":
            item["status"] = "cancelled" if final.get("code") == "job.cancelled" else "failed"
            item["error"] = {k: final.get(k) for k in ("code", "message", "hint")}
            return item
        item["outputs"]["glb"] = final["glb"]
        item["warnings"] = list((final.get("metadata") or {}).get("warnings") or [])
        for note in item["warnings"]:
            print(f"[{label}] note: {note}", flush=True)
        context = bpy.context
        imported = importer.import_human(context, final["glb"], height_m=args.height_m, name=name,
                                         location=(0.0, 0.0, 0.0), metadata=final.get("metadata"))
        obj = imported.object
        renders = []
        if args.render != "none":
            render.configure(context.scene, resolution=args.resolution, samples=args.samples)
            renders = render.render_views(context.scene, obj, os.path.join(out, "renders"), name, args.render)
            item["outputs"]["renders"] = renders
        if args.library:
            assets.mark_as_asset(
                obj, catalog_path=args.catalog, tags=args.tags.split(","), author=args.author,
                description=f"Reconstructed from {os.path.basename(photo)} "
                            f"({final.get('metadata', {}).get('engine', '?')} engine, seed {args.seed})",
                library_dir=args.library, preview_from=renders[0] if renders else photo)
            item["outputs"]["library"] = assets.write_library_blend(obj, args.library, name, args.catalog)
        blend = os.path.join(out, "blend", f"{name}.blend")
        bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True, compress=True)
        item["outputs"]["blend"] = blend
        item["status"] = "done"
        print(f"[{label}] done: {blend}", flush=True)
    except KeyboardInterrupt:
        item["status"] = "cancelled"
        item["error"] = {"code": "job.cancelled", "message": "Interrupted.", "hint": ""}
    except Exception as exc:  # one bad item never stops the batch
        traceback.print_exc()
        item["error"] = {"code": "blender.error", "message": f"{type(exc).__name__}: {exc}",
                         "hint": "See the traceback printed above this line in the batch output."}
    finally:
        item["seconds"] = round(time.monotonic() - started, 2)
        if item["status"] != "done" and item["error"]:
            print(f"[{label}] {item['status']}: [{item['error']['code']}] {item['error']['message']}", flush=True)
    return item


def backend_batch_command(python: str, photos: list[str], args: argparse.Namespace, settings: dict,
                          jobs_dir: str) -> list[str]:
    cmd = [python, "-m", "synchuman", "batch", *photos, "-o", jobs_dir, "--json", "--ray"]
    if args.ray != "local":
        cmd.append(args.ray)
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    cmd += ["--gpus-per-worker", str(args.gpus_per_worker)]
    for key, value in settings.items():
        option = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):  # a switch: --rig / --no-rig
            cmd.append(option if value else f"--no-{option[2:]}")
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        cmd += [option, text]
    if args.weights:
        cmd += ["--weights", args.weights]
    return cmd


def run_on_ray(python: str, photos: list[str], args: argparse.Namespace, settings: dict,
               jobs_dir: str) -> tuple[dict[str, dict], bool]:
    """Runs `synchuman batch --ray` on `photos`, printing a line per batch event; returns each photo's
    final event in the protocol's shape ({"type": "result", "glb", "metadata"} or {"type": "error", ...})
    and whether the batch was interrupted (Ctrl-C reaches the backend batch, which cancels cleanly)."""
    import queue

    from .runner import CommandTask

    if not photos:
        return {}, False
    task = CommandTask(backend_batch_command(python, photos, args, settings, jobs_dir), name="synchuman-ray-batch",
                       echo_log=lambda line: print(line, file=sys.stderr, flush=True))
    interrupted = False
    while True:
        try:
            event = task.events.get(timeout=0.2)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            interrupted = True
            task.interrupt()  # the backend batch cancels its workers and cleans up
            continue
        if event.get("type") == "batch":
            print(_ray_line(event), flush=True)
        elif event.get("type") == "task.finished":
            returncode = event["returncode"]
            break
    interrupted = interrupted or returncode == EXIT_INTERRUPTED
    with open(os.path.join(jobs_dir, LOG_NAME), encoding="utf-8") as f:
        backend_log = json.load(f)
    results = {}
    for entry in backend_log.get("items", []):
        photo = os.path.realpath(entry["photo"])
        if entry["status"] == "done":
            with open(os.path.join(entry["job_dir"], "job.json"), encoding="utf-8") as f:
                metadata = json.load(f)
            results[photo] = {"type": "result", "job": os.path.basename(photo), "glb": entry["glb"],
                              "metadata": metadata}
        elif entry["status"] in ("failed", "cancelled"):
            results[photo] = {"type": "error", "job": os.path.basename(photo), **(entry.get("error") or
                              {"code": "job.cancelled", "message": "Cancelled.", "hint": ""})}
    return results, interrupted


def _ray_line(event: dict) -> str:
    done = event["done"] + event["failed"] + event["skipped"]
    line = f"[ray {done}/{event['total']}: {event['running']} running] {event['event']}"
    if event.get("photo"):
        line += f" {os.path.basename(event['photo'])}"
    if event.get("error"):
        line += f" [{event['error'].get('code')}] {event['error'].get('message')}"
    return line


def _with_summary(log: dict) -> dict:
    items = log["items"]
    log["summary"] = {"total": len(items), **{s: sum(1 for i in items if i["status"] == s)
                                              for s in ("done", "failed", "skipped", "cancelled")}}
    return log


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_as_script() -> int:
    """`blender -P .../batch.py`: this file runs without its package, so load the package from
    its folder under the folder's name (without touching sys.path) and run its batch module."""
    import importlib
    import importlib.util

    folder = os.path.dirname(os.path.abspath(__file__))
    name = os.path.basename(folder)
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                      submodule_search_locations=[folder])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.batch").main()


if __name__ == "__main__":
    sys.exit(_run_as_script() if not __package__ else main())
