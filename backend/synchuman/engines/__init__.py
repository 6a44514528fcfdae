"""Engine registry. Engine modules are imported only when used (torch is slow to import)."""

from __future__ import annotations

import importlib

from ..errors import SyncHumanError
from .base import ENGINE_CHOICES, Engine, EngineResult, ReconstructSettings

_ENGINE_MODULES = {
    "preview": ("synchuman.engines.preview", "PreviewEngine"),
    "synchuman": ("synchuman.engines.synchuman", "SyncHumanEngine"),
}
ENGINE_NAMES = tuple(_ENGINE_MODULES)


def engine_class(name: str) -> type[Engine]:
    if name not in _ENGINE_MODULES:
        raise SyncHumanError("settings.invalid", f"Unknown engine {name!r}",
                             f"Choose one of: {', '.join(ENGINE_CHOICES)}.")
    module, attr = _ENGINE_MODULES[name]
    return getattr(importlib.import_module(module), attr)


def engine_availability(settings: ReconstructSettings) -> dict[str, tuple[bool, str]]:
    return {name: engine_class(name).availability(settings) for name in ENGINE_NAMES}


def choose_engine(settings: ReconstructSettings) -> tuple[str, str]:
    """Resolves `auto` to an engine and says why; refuses an unavailable explicit choice."""
    if settings.engine == "auto":
        ok, why = engine_class("synchuman").availability(settings)
        if ok:
            return "synchuman", "auto: SyncHuman weights found, using the synchuman engine"
        return "preview", f"auto: using the preview engine ({why})"
    ok, why = engine_class(settings.engine).availability(settings)
    if not ok:
        raise SyncHumanError("engine.unavailable", f"The {settings.engine} engine cannot run: {why}",
                             "Run `synchuman weights download` (or `synchuman weights verify`), "
                             "or use --engine preview." if settings.engine == "synchuman" else "")
    return settings.engine, f"using the {settings.engine} engine"


__all__ = ["ENGINE_NAMES", "Engine", "EngineResult", "ReconstructSettings", "choose_engine",
           "engine_availability", "engine_class"]
