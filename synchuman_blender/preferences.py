"""Add-on preferences, the data: how to reach the backend on this machine, and where files go.

The AddonPreferences class itself is in panels.py, because it draws (the backend status and the
weights box, which need the operators); its properties are PreferenceProperties, here, so that
everything that only reads preferences depends on this module alone.
"""

# No `from __future__ import annotations`: _DefaultPreferences reads the property objects themselves.
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from .client import BackendConfig, check_interpreter, default_backend_python
from .protocol import DEVICE_CHOICES, MEMORY_MODES, PRECISION_CHOICES
from .setup_backend import read_marker

# In a submodule __package__ is the extension's module name (bl_ext.<repo>.<id> when installed).
ADDON_ID = __package__
BACKEND_PYTHON_ENV = "SYNCHUMAN_BACKEND_PYTHON"
BACKEND_SETUP_DIR = "backend"   # Install Backend's folder in the extension's user folder

_DEVICE_ITEMS = [
    ("auto", "Auto", "CUDA when the backend finds a GPU, else CPU"),
    ("cpu", "CPU", "Always run on the CPU"),
    ("cuda", "CUDA", "Run on the NVIDIA GPU (fails when none is found)"),
]
_PRECISION_ITEMS = [
    ("auto", "Auto", "fp16 on GPUs that support it, fp32 on the CPU"),
    ("fp32", "FP32", "Full precision: slowest, most memory"),
    ("fp16", "FP16", "Half precision on the GPU"),
    ("bf16", "BF16", "bfloat16 on GPUs and on CPUs that support it"),
]
_MEMORY_ITEMS = [
    ("full", "Full", "Keep every model loaded: fastest, most memory"),
    ("balanced", "Balanced", "Load models per stage"),
    ("low", "Low", "Offload aggressively for small GPUs"),
]
_FLAVOUR_ITEMS = [
    ("auto", "Auto", "The CUDA build of torch when an NVIDIA driver is found, else the CPU build"),
    ("cpu", "CPU", "torch's CPU build (smaller; no GPU)"),
    ("cuda", "CUDA", "torch's CUDA build, for an NVIDIA GPU"),
]
assert tuple(i[0] for i in _DEVICE_ITEMS) == DEVICE_CHOICES
assert tuple(i[0] for i in _PRECISION_ITEMS) == PRECISION_CHOICES
assert tuple(i[0] for i in _MEMORY_ITEMS) == MEMORY_MODES


def user_dir(*parts: str) -> str:
    """A writable folder of the extension (created): its extension user folder when installed,
    else a folder in Blender's user data (a development checkout imported by name)."""
    try:
        base = bpy.utils.extension_path_user(ADDON_ID, create=True)
    except ValueError:  # not loaded as an extension
        base = bpy.utils.user_resource('DATAFILES', path="synchuman_blender", create=True)
    path = os.path.join(base, *parts)
    os.makedirs(path, exist_ok=True)
    return path


class PreferenceProperties:
    """The preferences' properties (panels.SYNCHUMAN_AP_preferences registers them)."""

    backend_python: StringProperty(
        name="Backend Python",
        description="Python interpreter of the environment where the SyncHuman backend is installed. "
                    "Empty: $SYNCHUMAN_BACKEND_PYTHON, else the project's .venv when found",
        subtype='FILE_PATH',
    )
    backend_flavour: EnumProperty(name="Torch Build", items=_FLAVOUR_ITEMS, default="auto",
                                  description="Which torch build Install Backend installs")
    base_python: StringProperty(
        name="Base Python",
        description="The Python 3.11 Install Backend makes the environment from (empty: Blender's own, "
                    "else one found on the system)",
        subtype='FILE_PATH',
    )
    wheels_dir: StringProperty(
        name="Wheels Folder",
        description="A folder of downloaded wheels Install Backend may use (offline installs; empty: none)",
        subtype='DIR_PATH',
    )
    weights_dir: StringProperty(
        name="Weights Folder",
        description="Folder with the SyncHuman model weights (empty: the backend's default)",
        subtype='DIR_PATH',
    )
    device: EnumProperty(name="Device", items=_DEVICE_ITEMS, default="auto")
    precision: EnumProperty(name="Precision", items=_PRECISION_ITEMS, default="auto")
    memory_mode: EnumProperty(name="Memory", items=_MEMORY_ITEMS, default="balanced")
    start_on_demand: BoolProperty(
        name="Start Backend on Demand",
        description="Start the backend when a reconstruction is requested; off: start it here first",
        default=True,
    )
    output_dir: StringProperty(
        name="Results Folder",
        description="Where job folders (GLB, job.json, log) are written (empty: the extension's user folder)",
        subtype='DIR_PATH',
    )
    cancel_grace_s: FloatProperty(
        name="Cancel Grace",
        description="Seconds to wait for the backend to stop a cancelled job before killing it",
        default=20.0, min=1.0, max=600.0, subtype='TIME_ABSOLUTE', unit='TIME_ABSOLUTE',
    )


class _DefaultPreferences:
    """The preference defaults, for code that runs without the add-on being enabled
    (a script that registered the classes by hand)."""

    def __getattr__(self, name):
        prop = PreferenceProperties.__annotations__.get(name)
        if prop is None:
            raise AttributeError(name)
        return prop.keywords.get("default", "")  # only string properties leave their default out


def get_prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else _DefaultPreferences()


def resolve_backend_python(prefs) -> tuple[str, str]:
    """(interpreter, where it came from); ("", "none") when nothing is configured or found."""
    if prefs.backend_python:
        return bpy.path.abspath(prefs.backend_python), "preferences"
    from_env = os.environ.get(BACKEND_PYTHON_ENV, "")
    if from_env:
        return from_env, BACKEND_PYTHON_ENV
    installed = read_marker(user_dir(BACKEND_SETUP_DIR))   # Install Backend's, or one put there from a terminal
    if installed:
        return installed["python"], "installed backend"
    found = default_backend_python(os.path.dirname(os.path.realpath(__file__)))  # a symlinked checkout too
    return (found, "project .venv") if found else ("", "none")


def backend_problem(context=None) -> str | None:
    """Why the backend cannot be started, or None."""
    path, _source = resolve_backend_python(get_prefs(context))
    problem = check_interpreter(path)
    if problem and not path:
        return "Backend not configured: set its Python in Preferences › Add-ons › SyncHuman"
    return problem


def backend_config(context=None) -> BackendConfig:
    prefs = get_prefs(context)
    path, _source = resolve_backend_python(prefs)
    weights = bpy.path.abspath(prefs.weights_dir) if prefs.weights_dir else ""
    return BackendConfig(python=path, weights_dir=weights.rstrip("/\\") if weights else "",
                         log_path=os.path.join(user_dir("logs"), "backend.log"),
                         client_name=f"synchuman_blender (Blender {bpy.app.version_string})")


def job_output_dir(context=None) -> str:
    prefs = get_prefs(context)
    if prefs.output_dir:
        path = bpy.path.abspath(prefs.output_dir)
        os.makedirs(path, exist_ok=True)
        return path
    return user_dir("jobs")

