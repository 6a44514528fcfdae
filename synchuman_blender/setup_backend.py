"""Installs the bundled SyncHuman backend into a virtual environment of its own.

    python -m synchuman_blender.setup_backend --target DIR [--cpu|--cuda] [--find-links WHEELS]
    python path/to/synchuman_blender/setup_backend.py --target DIR ...   (the same, as a script)

Standard library only and never imports bpy: Blender's Install Backend button runs this file with
Blender's own interpreter through the extension's runner, and a studio runs it from a terminal.
It prints one JSON object a line on stdout (steps, then `setup.done` or an `error`); pip's own
output goes to DIR/setup.log.

The environment is built in a new folder DIR/env-<time>; it counts as installed only once
DIR/current.json names it, which is written last and atomically (os.replace). A failed or
cancelled run deletes its folder; one killed outright leaves a folder nothing names, which the
next run deletes. Repair builds a new folder the same way and switches current.json to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BUNDLE_DIR = Path(__file__).resolve().parent / "bundled_backend"
MARKER = "current.json"
LOG_NAME = "setup.log"
ENV_PREFIX = "env-"
FLAVOURS = ("cpu", "cuda")
NO_DEPS_MARK = "--no-deps"   # a requirement line ending in `# --no-deps` goes in without its dependencies
# The CPU build of torch (`+cpu`) is served by PyTorch's own index; `pip` (or an empty value) means
# only pip's configured indexes and --find-links, e.g. a studio mirror or a wheel folder.
TORCH_INDEX_ENV = "SYNCHUMAN_TORCH_INDEX"
DEFAULT_TORCH_INDEX = {"cpu": "https://download.pytorch.org/whl/cpu", "cuda": ""}
PYTHON_VERSION = (3, 11)
# seconds a cancelled pip gets to end before it is killed: well within the runner's grace time for
# this process (5 s), so pip never outlives it and writes into the folder it deletes
CHILD_GRACE_S = 2.0
# What Blender's own Python must not hand to another interpreter.
_FOREIGN_PYTHON_ENV = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE")


class SetupError(Exception):
    def __init__(self, code: str, message: str, hint: str = "", step: str = ""):
        super().__init__(message)
        self.code, self.message, self.hint, self.step = code, message, hint, step


class Cancelled(Exception):
    pass


def emit(kind: str, **fields) -> None:
    print(json.dumps({"type": kind, **fields}), flush=True)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PYTHON_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def nvidia_driver_present() -> bool:
    """An NVIDIA driver on this machine: its kernel module (Linux) or its nvidia-smi tool."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def pick_flavour(requested: str) -> str:
    return requested if requested in FLAVOURS else ("cuda" if nvidia_driver_present() else "cpu")


def read_marker(target: str | os.PathLike) -> dict | None:
    """The installed environment ({"python", "env", "flavour", "backend_version", ...}), or None when
    nothing complete is installed under `target`."""
    try:
        marker = json.loads((Path(target) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not Path(str(marker.get("python", ""))).is_file():
        return None
    return marker


def command(python: str, target: str, flavour: str = "auto", *, action: str = "install",
            find_links: str = "", base_python: str = "") -> list[str]:
    """The command line that runs this file (the extension runs it with Blender's interpreter)."""
    argv = [python, str(Path(__file__).resolve()), "--target", target]
    if action == "remove":
        return argv + ["--remove"]
    if flavour in FLAVOURS:
        argv.append(f"--{flavour}")
    if find_links:
        argv += ["--find-links", find_links]
    if base_python:
        argv += ["--python", base_python]
    return argv


def read_requirements(path: Path) -> list[tuple[list[str], bool]]:
    """The install steps of a bundled requirements list: (requirements, without dependencies). Lines
    of one project (torch for each platform, told apart by markers) make one step: pip picks the line."""
    steps: list[tuple[list[str], bool]] = []
    last_name = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        spec, _, comment = line.partition("#")
        spec = spec.strip()
        if not spec:
            continue
        name = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].lower()
        if steps and name == last_name:
            steps[-1][0].append(spec)
        else:
            steps.append(([spec], comment.strip() == NO_DEPS_MARK))
        last_name = name
    return steps


def python_problem(candidate: str) -> str | None:
    """Why `candidate` cannot make the environment, or None when it is a Python 3.11 with venv."""
    probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=60,
                             env=clean_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{candidate}: cannot run ({exc})"
    if out.returncode != 0:
        return f"{candidate}: has no venv/ensurepip module ({out.stderr.strip().splitlines()[-1:] or ['?']})"
    version = out.stdout.strip()
    wanted = "%d.%d" % PYTHON_VERSION
    return None if version == wanted else f"{candidate}: Python {version}, not {wanted}"


def find_base_python(explicit: str = "") -> str:
    """The interpreter running this (Blender's own), else a python3.11 on PATH; `explicit` alone when given."""
    if explicit:
        candidates = [explicit]
    else:
        candidates = [sys.executable] + [found for name in ("python3.11", "python3", "python")
                                         if (found := shutil.which(name))]
    problems = []
    for candidate in dict.fromkeys(candidates):
        problem = python_problem(candidate)
        if problem is None:
            return candidate
        problems.append(problem)
    raise SetupError("setup.no_python", "No Python 3.11 that can make a virtual environment was found: "
                     + "; ".join(problems),
                     "Install Python 3.11 (python.org, or your system's python3.11 and python3.11-venv "
                     "packages), then set its path as Base Python in the preferences or pass --python.",
                     step="python")


def classify_pip_failure(log_tail: str, spec: str) -> tuple[str, str]:
    """(error code, hint) from the end of pip's output."""
    text = log_tail.lower()
    if "no space left on device" in text:
        return "setup.disk_full", "Free disk space (the environment needs about 3 GB) and press Repair."
    if "proxy" in text or "connection" in text or "timed out" in text or "name resolution" in text:
        return "setup.network", ("pip could not reach the package index. Behind a proxy set HTTPS_PROXY before "
                                 "starting Blender, or install offline with --find-links (docs/blender.md).")
    # With a constraint on the same package, pip reports a missing package as a conflict with itself.
    missing_as_conflict = "resolutionimpossible" in text and " depends on " not in text
    if "no matching distribution" in text or "could not find a version" in text or missing_as_conflict:
        return "setup.not_in_index", (f"The package index has no {spec}. Check the index or proxy settings, "
                                      "or install offline from a wheel folder with --find-links.")
    return "setup.pip_failed", "Read the log for pip's message; Repair retries from the start."


class Installer:
    """One install run; `step()` reports progress, `_run()` runs a child that cancel can end."""

    def __init__(self, target: Path, flavour: str, bundle: Path, find_links: str, no_index: bool,
                 torch_index: str, base_python: str):
        self.target, self.flavour, self.bundle = target, flavour, bundle
        self.find_links, self.no_index, self.base_python = find_links, no_index, base_python
        self.torch_index = "" if torch_index in ("", "pip") else torch_index
        self.log_path = target / LOG_NAME
        self.env_dir = target / f"{ENV_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.child: subprocess.Popen | None = None
        self._starting = self._cancel_pending = False
        self.started = time.monotonic()
        self.index = 0
        self.count = 0
        self.current = ""

    def step(self, key: str, label: str) -> None:
        self.index += 1
        self.current = key
        emit("setup.step", step=key, label=label, index=self.index, count=self.count,
             elapsed_s=round(time.monotonic() - self.started, 1))
        self._log(f"== [{self.index}/{self.count}] {label}")

    def _log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(text + "\n")

    def _run(self, argv: list[str]) -> tuple[int, str]:
        self._log("$ " + " ".join(argv))
        with open(self.log_path, "a", encoding="utf-8") as log:
            with self._cancel_held():
                # its own process group, so a cancel ends pip and whatever pip started
                self.child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              env=clean_env(), start_new_session=os.name != "nt")
            code = self.child.wait()
            self.child = None
        tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        return code, tail

    @contextlib.contextmanager
    def _cancel_held(self):
        """A cancel that lands while a child is being started waits until `self.child` names it.

        Raised inside Popen, it would leave the child running with nobody to stop it."""
        self._starting = True
        try:
            yield
        finally:
            self._starting = False
        if self._cancel_pending:
            raise Cancelled()

    def on_cancel_signal(self, signum, frame) -> None:
        if self._starting:
            self._cancel_pending = True
            return
        raise Cancelled()

    def stop_child(self) -> None:
        """Ends the running pip and what it started: SIGTERM, then SIGKILL after CHILD_GRACE_S."""
        child = self.child
        if child is None or child.poll() is not None:
            return
        self._signal_child(child, signal.SIGTERM)
        try:
            child.wait(CHILD_GRACE_S)
        except subprocess.TimeoutExpired:
            self._signal_child(child, getattr(signal, "SIGKILL", signal.SIGTERM))
            child.wait()

    @staticmethod
    def _signal_child(child: subprocess.Popen, signum: int) -> None:
        if os.name == "nt":   # no process groups to signal: TerminateProcess
            child.kill()
            return
        try:
            os.killpg(child.pid, signum)   # the whole group: pip's own helpers too
        except ProcessLookupError:
            pass

    def install(self) -> dict:
        reqs_file = self.bundle / f"requirements-{self.flavour}.txt"
        wheels = sorted(self.bundle.glob("synchuman-*.whl"))
        if not reqs_file.is_file() or not wheels:
            raise SetupError("setup.no_bundle", f"No bundled backend in {self.bundle}.",
                             "Install the extension from its release zip (build.py package makes it).", step="bundle")
        requirements = read_requirements(reqs_file)
        self.count = 2 + len(requirements) + 2
        self.target.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text(f"SyncHuman backend set-up, {time.ctime()}, flavour {self.flavour}\n",
                                 encoding="utf-8")
        remove_unnamed_envs(self.target)

        self.step("python", "Finding Python 3.11")
        base = find_base_python(self.base_python)
        self._log(f"base interpreter: {base}")
        self.step("venv", "Creating the environment")
        code, tail = self._run([base, "-m", "venv", str(self.env_dir)])
        if code != 0:
            raise SetupError("setup.venv_failed", f"Creating the environment with {base} failed (exit {code}).",
                             classify_pip_failure(tail, "")[1] if "space" in tail.lower() else
                             "On Debian/Ubuntu install python3.11-venv; or set another Base Python.", step="venv")
        constraints = self.target / "constraints.txt"
        constraints.write_text("".join(spec + "\n" for specs, _ in requirements for spec in specs), encoding="utf-8")
        for specs, no_deps in requirements:
            shown = specs[0].split(";")[0].strip()
            self.step(f"pip:{shown}", f"Installing {shown}")
            self._pip(specs, ["-c", str(constraints)] + (["--no-deps"] if no_deps else []))
        self.step("backend", f"Installing the backend ({wheels[-1].name})")
        self._pip([str(wheels[-1])], ["--no-deps"])
        self.step("verify", "Checking that the backend answers")
        info = self._verify()
        for signum in (signal.SIGTERM, signal.SIGINT):   # past this point a cancel would undo a finished install
            signal.signal(signum, signal.SIG_IGN)
        return self._commit(info)

    def _pip(self, specs: list[str], extra: list[str]) -> None:
        spec = specs[0].split(";")[0].strip()
        argv = [str(env_python(self.env_dir)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                "--progress-bar", "off", *extra]
        if self.find_links:
            argv += ["--find-links", self.find_links]
        if self.no_index:
            argv.append("--no-index")
        elif self.torch_index and spec.startswith("torch"):
            argv += ["--extra-index-url", self.torch_index]
        code, tail = self._run(argv + specs)
        if code != 0:
            error, hint = classify_pip_failure(tail, spec)
            raise SetupError(error, f"pip could not install {spec} (exit {code}).", hint, step=self.current)

    def _verify(self) -> dict:
        out = subprocess.run([str(env_python(self.env_dir)), "-m", "synchuman", "info", "--json"],
                             capture_output=True, text=True, env=clean_env(), timeout=600)
        self._log(out.stdout[-2000:] + out.stderr[-4000:])
        try:
            return json.loads(out.stdout)
        except ValueError:
            raise SetupError("setup.verify_failed", f"The installed backend does not answer `synchuman info` "
                             f"(exit {out.returncode}).", "Read the log; Repair reinstalls it.", step="verify") from None

    def _commit(self, info: dict) -> dict:
        marker = {"python": str(env_python(self.env_dir)), "env": str(self.env_dir), "flavour": self.flavour,
                  "backend_version": info.get("versions", {}).get("synchuman", ""),
                  "torch": info.get("device", {}).get("torch", ""), "installed": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "seconds": round(time.monotonic() - self.started, 1)}
        partial = self.target / (MARKER + ".partial")
        partial.write_text(json.dumps(marker, indent=2), encoding="utf-8")
        os.replace(partial, self.target / MARKER)   # the one moment the new environment becomes the backend
        remove_unnamed_envs(self.target)            # the environment Repair replaced
        return marker


def remove_unnamed_envs(target: Path) -> None:
    """Deletes every env-* folder that current.json does not name (failed, killed or replaced runs)."""
    named = (read_marker(target) or {}).get("env", "")
    for folder in target.glob(f"{ENV_PREFIX}*"):
        if folder.is_dir() and str(folder) != named:
            shutil.rmtree(folder, ignore_errors=True)


def remove(target: Path) -> None:
    """Un-marks first, so a Remove stopped halfway never leaves a named, half-deleted environment."""
    (target / MARKER).unlink(missing_ok=True)
    remove_unnamed_envs(target)
    for name in ("constraints.txt", MARKER + ".partial"):
        (target / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synchuman_blender.setup_backend", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="folder of the environment (Blender: the extension's user folder)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cpu", dest="flavour", action="store_const", const="cpu", help="torch's CPU build")
    group.add_argument("--cuda", dest="flavour", action="store_const", const="cuda", help="torch's CUDA build")
    parser.add_argument("--find-links", default="", help="a folder of wheels (offline installs)")
    parser.add_argument("--no-index", action="store_true", help="only --find-links, no package index")
    parser.add_argument("--torch-index", default=None, help=f"extra index for torch (default ${TORCH_INDEX_ENV}, "
                        "else PyTorch's CPU index for --cpu); 'pip' = only pip's own indexes")
    parser.add_argument("--python", default="", help="the Python 3.11 to make the environment from")
    parser.add_argument("--bundle", default=str(BUNDLE_DIR), help="folder with the backend wheel and requirement lists")
    parser.add_argument("--remove", action="store_true", help="delete the installed environment")
    args = parser.parse_args(argv)
    target = Path(args.target).expanduser().resolve()
    if args.remove:
        remove(target)
        emit("setup.removed", target=str(target))
        return 0
    flavour = pick_flavour(args.flavour or "auto")
    torch_index = args.torch_index if args.torch_index is not None else \
        os.environ.get(TORCH_INDEX_ENV, DEFAULT_TORCH_INDEX[flavour])
    installer = Installer(target, flavour, Path(args.bundle), args.find_links, args.no_index, torch_index, args.python)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, installer.on_cancel_signal)
    try:
        marker = installer.install()
    except (SetupError, Cancelled, OSError) as exc:
        installer.stop_child()
        shutil.rmtree(installer.env_dir, ignore_errors=True)   # nothing half-made stays behind
        if isinstance(exc, Cancelled):
            exc = SetupError("setup.cancelled", "The install was cancelled; nothing was kept.",
                             "Press Install Backend to start again.", step=installer.current)
        elif isinstance(exc, OSError):
            code = "setup.disk_full" if "No space" in str(exc) else "setup.failed"
            exc = SetupError(code, f"{type(exc).__name__}: {exc}", "Free disk space or pick another folder.",
                             step=installer.current)
        emit("error", code=exc.code, message=exc.message, hint=exc.hint, step=exc.step,
             log=str(installer.log_path))
        return 1
    emit("setup.done", **marker, log=str(installer.log_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
