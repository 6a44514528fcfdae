"""SyncHuman for Blender: reconstruct a clothed, textured 3D human from one photo.

This module only registers and unregisters. The backend (torch, models) runs in its own
process; runner.py runs it, client.py speaks its protocol, jobs.py and pump.py bring its
events to the UI on the main thread.
"""

from __future__ import annotations

import atexit

from .protocol import EXTENSION_VERSION  # noqa: F401  (the version lives with the protocol it speaks)

# bpy and the modules that need it are imported by register(), not here: `python -m
# synchuman_blender.setup_backend` imports this package in a plain Python, without bpy.
_registered = False


def _classes():
    from . import backend_setup, operators, panels, properties, results, weights
    return (
        *properties.classes,    # property groups first: pointers refer to them
        *panels.preference_classes,
        *operators.classes,
        *results.classes,
        *weights.classes,
        *backend_setup.classes,
        *panels.classes,        # parents before children
    )


def _stop_backend_at_exit():
    """Blender is closing: end every backend process (a job's, a weights or set-up task's) with it."""
    from . import backend_setup, jobs, weights
    weights.stop()
    backend_setup.stop()
    jobs.SESSION.shutdown()


def register():
    global _registered
    if _registered:  # a second registration would duplicate the menu entry and timer
        return
    import bpy

    from . import backend_setup, properties, results, weights
    for cls in _classes():
        bpy.utils.register_class(cls)
    properties.register_properties()
    weights.register_properties()
    backend_setup.register_properties()
    bpy.types.TOPBAR_MT_file_import.append(results.menu_import)
    atexit.register(_stop_backend_at_exit)
    _registered = True


def unregister():
    global _registered
    if not _registered:
        return
    import bpy

    from . import backend_setup, jobs, properties, pump, results, weights
    atexit.unregister(_stop_backend_at_exit)
    jobs.SESSION.shutdown()  # disabling the extension stops the backend
    bpy.types.TOPBAR_MT_file_import.remove(results.menu_import)
    weights.unregister_properties()  # also stops a running download
    backend_setup.unregister_properties()  # and a running install
    pump.stop()
    properties.unregister_properties()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    _registered = False
