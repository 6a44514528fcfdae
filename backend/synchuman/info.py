"""`synchuman info`: versions, device, engines and weights, as a dict."""

from __future__ import annotations

import os
import sys

from .engines import ReconstructSettings, engine_availability
from .foreground import detector_status
from .runner import versions
from .weights import weights_status


def device_info() -> dict:
    import torch

    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(), "cpu_threads":
            torch.get_num_threads(), "cpu_count": os.cpu_count()}
    if info["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        info["cuda_device"] = props.name
        info["cuda_memory_gb"] = round(props.total_memory / 2**30, 1)
    info["default_device"] = "cuda" if info["cuda_available"] else "cpu"
    try:
        import nvdiffrast  # noqa: F401 - only whether it imports matters

        info["nvdiffrast"] = True
    except Exception:
        info["nvdiffrast"] = False
    return info


def collect_info(weights_dir: str | None = None) -> dict:
    settings = ReconstructSettings(weights_dir=weights_dir)
    engines = {name: {"available": ok, "reason": why} for name, (ok, why) in engine_availability(settings).items()}
    device = device_info()
    return {
        "versions": versions(),
        "executable": sys.executable,
        "device": device,
        "engines": engines,
        "auto_engine": "synchuman" if engines["synchuman"]["available"] else "preview",
        "weights": weights_status(weights_dir),
        "person_detector": detector_status(),
    }
