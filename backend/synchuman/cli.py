"""The `synchuman` command line: reconstruct, serve, info, weights."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from . import __version__
from .common import REST_POSE_CHOICES, RIG_NAME_CHOICES
from .engines.base import DEVICE_CHOICES, ENGINE_CHOICES, MEMORY_MODES, PRECISION_CHOICES, ReconstructSettings
from .errors import Cancelled, SyncHumanError, internal_error
from .jobs import CancelToken
from .protocol import claim_stdout, encode, protocol_stdout

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 130


def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", metavar="DIR", help="weights folder (default: $SYNCHUMAN_WEIGHTS or the user data dir)")


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """Reconstruction settings shared by `reconstruct` and `batch`."""
    d = ReconstructSettings()
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=d.engine,
                   help="auto: synchuman when its weights are present, else preview")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--height-m", type=float, default=d.height_m, help="height of the result in metres")
    p.add_argument("--texture-size", type=int, default=d.texture_size)
    p.add_argument("--max-faces", type=int, default=d.max_faces)
    p.add_argument("--device", choices=DEVICE_CHOICES, default=d.device)
    p.add_argument("--precision", choices=PRECISION_CHOICES, default=d.precision)
    p.add_argument("--memory-mode", choices=MEMORY_MODES, default=d.memory_mode)
    p.add_argument("--stage1-steps", type=int, help="stage-1 sampler steps (default 50)")
    p.add_argument("--stage2-steps", type=int, help="stage-2 sampler steps (default 25)")
    p.add_argument("--person-box", type=_person_box, metavar="X0,Y0,X1,Y1",
                   help="with several people in the photo: the box (photo pixels) around the one to reconstruct "
                        "(default: the most prominent person)")
    p.add_argument("--rig", action=argparse.BooleanOptionalAction, default=d.rig,
                   help="give the result a skeleton and skin weights (default: on)")
    p.add_argument("--rig-names", choices=RIG_NAME_CHOICES, default=d.rig_names,
                   help="bone names: ours, Mixamo's or Rigify's metarig's (docs/rig.md)")
    p.add_argument("--rest-pose", choices=REST_POSE_CHOICES, default=d.rest_pose,
                   help="the rigged result's rest pose: the photo's, or arms and legs straightened (A or T)")
    _add_weights(p)


def _person_box(text: str) -> list[int]:
    try:
        box = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not four whole numbers x0,y0,x1,y1") from None
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"{text!r} is not four whole numbers x0,y0,x1,y1")
    return box


def settings_from_args(args: argparse.Namespace) -> ReconstructSettings:
    return ReconstructSettings(engine=args.engine, seed=args.seed, height_m=args.height_m,
                               texture_size=args.texture_size, max_faces=args.max_faces, device=args.device,
                               precision=args.precision, memory_mode=args.memory_mode, weights_dir=args.weights,
                               stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                               person_box=args.person_box, rig=args.rig, rig_names=args.rig_names,
                               rest_pose=args.rest_pose).validate()


class TerminalProgress:
    """A one-line progress bar on a terminal, or plain lines when stderr is not a terminal."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self._last_stage = None

    def __call__(self, event: dict) -> None:
        if event.get("type") != "progress":
            return
        frac = event["fraction"]
        label = f"[{event['stage_index'] + 1}/{event['stage_count']}] {event['stage_label']}"
        steps = f" {event['step']}/{event['total']}" if event["total"] > 1 else ""
        if self.tty:
            bar = "#" * int(frac * 30)
            msg = event.get("message", "")[:40]
            self.stream.write(f"\r{frac * 100:5.1f}% |{bar:<30}| {label}{steps} {msg}\033[K")
            self.stream.flush()
        elif event["stage"] != self._last_stage or event.get("message"):
            self.stream.write(f"{frac * 100:5.1f}% {label}{steps} {event.get('message', '')}\n")
        self._last_stage = event["stage"]

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .runner import EngineCache, run_reconstruction

    settings = settings_from_args(args)
    cancel = CancelToken()
    signal.signal(signal.SIGINT, lambda *_: cancel.set("Interrupted (Ctrl-C)."))
    signal.signal(signal.SIGTERM, lambda *_: cancel.set("Terminated."))
    engines = EngineCache()
    out = claim_stdout() if args.json else sys.stdout
    failures = 0
    for photo in args.photos:
        if cancel.is_set():
            break
        job_id = Path(photo).name
        bar = TerminalProgress()

        def emit(event: dict) -> None:
            event = {**event, "job": job_id}
            if args.json:
                _print_event(event, out)
            else:
                bar(event)

        try:
            result = run_reconstruction(photo, args.output, settings, emit, cancel, engines, job_id)
            if args.json:
                _print_event({"type": "result", **result}, out)
            else:
                bar.done()
                print(f"{photo}: {result['glb']}")
        except SyncHumanError as exc:
            failures += 1
            if not args.json:
                bar.done()
            _report(exc, args.json, job_id, out)
            if isinstance(exc, Cancelled):
                return EXIT_CANCELLED
        except Exception as exc:  # unexpected: still a coded error, with the traceback in the log
            failures += 1
            logging.getLogger("synchuman").exception("job %s crashed", job_id)
            _report(internal_error(exc), args.json, job_id, out)
    return EXIT_FAILED if failures else 0


def _report(exc: SyncHumanError, as_json: bool, job: str | None = None, out=None) -> None:
    if as_json:
        event = {"type": "error", **exc.to_dict()}
        if job:
            event["job"] = job
        _print_event(event, out or protocol_stdout())   # a job's JSON error goes where its events went
    else:
        print(f"error: {exc}", file=sys.stderr)


def _print_event(event: dict, out) -> None:
    """One JSON event line, strict and always encodable (as on the service's stdout)."""
    out.write(encode(event))
    out.flush()


def cmd_batch(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    cancel = CancelToken()
    signal.signal(signal.SIGINT, lambda *_: cancel.set("Interrupted (Ctrl-C)."))
    signal.signal(signal.SIGTERM, lambda *_: cancel.set("Terminated."))
    out = claim_stdout() if args.json else sys.stdout

    def emit(event: dict) -> None:
        if args.json:
            _print_event(event, out)
        elif event.get("type") == "batch":
            print(_batch_line(event), file=sys.stderr, flush=True)

    if args.ray is not None:
        from .cluster import run_batch_on_ray

        summary = run_batch_on_ray(args.inputs, args.output, settings, emit, cancel, retries=args.retries,
                                   address=None if args.ray == "local" else args.ray, workers=args.workers,
                                   gpus_per_worker=args.gpus_per_worker)
    else:
        from .batch import run_batch

        summary = run_batch(args.inputs, args.output, settings, emit, cancel, retries=args.retries)
    if not args.json:
        print(f"{summary['done']} done, {summary['failed']} failed, {summary['skipped']} skipped; "
              f"log: {summary['log']}", file=out)
    if summary["cancelled"]:
        return EXIT_CANCELLED
    return EXIT_FAILED if summary["failed"] else 0


def _batch_line(event: dict) -> str:
    kind = event["event"]
    counts = (f"[{event['done'] + event['failed'] + event['skipped']}/{event['total']}: {event['done']} done, "
              f"{event['failed']} failed, {event['running']} running")
    if event.get("photos_per_minute"):
        counts += f", {event['photos_per_minute']:.1f}/min"
    if event.get("eta_s") is not None:
        counts += f", ETA {event['eta_s']:.0f} s"
    counts += "]"
    photo = Path(event["photo"]).name if event.get("photo") else ""
    detail = ""
    if kind == "item_failed" or kind == "item_retry":
        detail = f" {event['error']['code']}: {event['error']['message']}"
    return f"{counts} {kind} {photo}{detail}".rstrip()


def cmd_serve(args: argparse.Namespace) -> int:
    from .service import serve_stdio

    if not args.stdio:
        print("error: only --stdio is supported (the backend never opens a network port)", file=sys.stderr)
        return EXIT_USAGE
    return serve_stdio(args.weights)


def cmd_info(args: argparse.Namespace) -> int:
    from .info import collect_info

    info = collect_info(args.weights)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    v, dev, w = info["versions"], info["device"], info["weights"]
    print(f"synchuman {v['synchuman']}  (python {v['python']}, torch {dev['torch']}, numpy {v['numpy']})")
    print(f"executable: {info['executable']}")
    cuda = f"CUDA: {dev.get('cuda_device')} ({dev.get('cuda_memory_gb')} GB)" if dev["cuda_available"] else "no CUDA"
    print(f"device: {dev['default_device']}  ({cuda}; {dev['cpu_count']} CPU cores; "
          f"nvdiffrast {'yes' if dev['nvdiffrast'] else 'no'})")
    print(f"weights: {w['dir']}  (from {w['source']}) - {'present' if w['present'] else 'missing'}")
    for item in w["missing"][:8]:
        print(f"  missing: {item}")
    if not w["background_removal"]:
        print("  optional background-removal model absent: photos without alpha use the shared person detector")
    if w["fix"]:
        print(f"  fix: {w['fix']}")
    person = info["person_detector"]
    print(f"person detector (foreground + pose): {person['model']} - "
          + ("available" if person["available"] else f"unavailable ({person['reason']}); fix: python build.py setup"))
    for name, e in info["engines"].items():
        print(f"engine {name}: {'available' if e['available'] else 'unavailable'} - {e['reason']}")
    print(f"auto engine: {info['auto_engine']}")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from .weights import download_weights, resolve_weights_dir, weights_status

    root, source = resolve_weights_dir(args.dir or args.weights)
    if args.action == "path":
        print(root)
        if not args.json:
            print(f"(from {source}; override with --weights DIR or ${'SYNCHUMAN_WEIGHTS'})", file=sys.stderr)
        return 0
    if args.action == "download":
        cancel = CancelToken()
        signal.signal(signal.SIGINT, lambda *_: cancel.set("Download interrupted; run it again to resume."))
        state = {"file": None, "t": 0.0}

        def progress(name: str, done: int, total: int | None) -> None:
            now = time.monotonic()
            if name == state["file"] and now - state["t"] < 0.2 and done != total:
                return
            state.update(file=name, t=now)
            if args.json:
                print(json.dumps({"type": "download", "file": name, "done": done, "total": total}), flush=True)
            else:
                of = f"/{total / 1e6:.0f}" if total else ""
                print(f"\r{name}: {done / 1e6:.0f}{of} MB\033[K", end="", file=sys.stderr, flush=True)

        download_weights(root, progress, cancel)
        if not args.json:
            print(file=sys.stderr)
    if args.action == "verify":
        return _verify(root, args.json)
    status = weights_status(root)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(f"{status['dir']}: {'complete' if status['present'] else 'incomplete'}")
        for item in status["missing"]:
            print(f"  missing: {item}")
        if status["fix"]:
            print(f"  fix: {status['fix']}")
    return 0 if status["present"] else EXIT_FAILED


def _verify(root: Path, as_json: bool) -> int:
    """Presence, then every component's keys and shapes against our models (headers only)."""
    from .weights import verified, verify_weights, weights_status

    status = weights_status(root)
    rows = verify_weights(root)
    ok = verified(rows)
    if as_json:
        print(json.dumps({**status, "present": status["present"] and ok, "components": rows}, indent=2))
    else:
        width = max(len(r["component"]) for r in rows)
        print(f"weights folder: {root}")
        for r in rows:
            print(f"  {r['component']:<{width}}  {r['status']:<8}  {r['detail'] or r['path']}")
        print("complete and matching" if ok else f"incomplete or damaged; fix: {status['fix'] or 'synchuman weights download --dir ' + str(root)}")
    return 0 if ok else EXIT_FAILED


def cmd_body_model(args: argparse.Namespace) -> int:
    from .body.data import body_data_path, build_body_data, read_body_data

    if args.action == "path":
        print(body_data_path())
        return 0
    if args.action == "verify":
        read_body_data()  # a coded error when missing or damaged
        print(f"{body_data_path()}: ready")
        return 0
    build_body_data(progress=lambda line: print(f"[body model] {line}", flush=True), force=args.force)
    return 0


class UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """Raises usage errors instead of exiting, so `main` can report them as JSON under --json."""

    def error(self, message: str):
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="synchuman", description="Photo to clothed, textured 3D human.")
    parser.add_argument("--version", action="version", version=f"synchuman {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reconstruct", help="reconstruct humans from photos into job folders")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder that receives one job folder per photo")
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of a progress bar")
    add_settings_arguments(p)
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("batch", help="reconstruct many photos with a batch.json log; resumable; optionally on Ray")
    p.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    p.add_argument("--json", action="store_true", help="print one JSON event per line")
    p.add_argument("--retries", type=int, default=2, help="retries for items whose worker died (default 2)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run on a Ray cluster (ADDRESS, or a local one when omitted)")
    p.add_argument("--workers", type=int, help="Ray workers (default: one per GPU, or per 2 CPUs for preview)")
    p.add_argument("--gpus-per-worker", type=float, default=1.0)
    add_settings_arguments(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("serve", help="serve the JSON-lines protocol (used by the Blender extension)")
    p.add_argument("--stdio", action="store_true", help="speak on stdin/stdout (the only transport)")
    _add_weights(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="versions, device, engines and weights")
    p.add_argument("--json", action="store_true")
    _add_weights(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("weights", help="where the weights are looked for; verify; download")
    p.add_argument("action", choices=("path", "verify", "download"))
    p.add_argument("--dir", help="target folder for download")
    p.add_argument("--json", action="store_true")
    _add_weights(p)
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("body-model", help="the body model's data: where it lives, check it, build it (set-up)")
    p.add_argument("action", choices=("path", "verify", "build"))
    p.add_argument("--force", action="store_true", help="build again even when present")
    p.set_defaults(func=cmd_body_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        if "--json" in argv:
            _report(SyncHumanError("cli.usage", str(exc), f"Usage: {exc.parser.format_usage().strip()[7:]}"), True)
        else:
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command != "serve":  # the service sets up its own logging
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger("synchuman").setLevel(logging.INFO)  # job logs capture INFO
    try:
        return args.func(args)
    except SyncHumanError as exc:
        _report(exc, getattr(args, "json", False))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
