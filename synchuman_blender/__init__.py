"""SyncHuman for Blender: reconstruct a clothed, textured 3D human from one photo.

This module only registers and unregisters. The backend (torch, models) runs in its own
process; see client.py for how it is driven and jobs.py for how its events reach the UI.
"""

from __future__ import annotations

import atexit

import bpy

from . import jobs, operators, panels, preferences, properties, weights

EXTENSION_VERSION = "0.1.0"  # keep equal to blender_manifest.toml (a test checks)

_classes = (
    *properties.classes,    # property groups first: pointers refer to them
    *preferences.classes,
    *operators.classes,
    *weights.classes,
    *panels.classes,        # parents before children
)
_registered = False


def _stop_backend_at_exit():
    jobs.SESSION.shutdown()


def register():
    global _registered
    if _registered:  # a second registration would duplicate the menu entry and timer
        return
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_properties()
    weights.register_properties()
    bpy.types.TOPBAR_MT_file_import.append(operators.menu_import)
    atexit.register(_stop_backend_at_exit)
    _registered = True


def unregister():
    global _registered
    if not _registered:
        return
    atexit.unregister(_stop_backend_at_exit)
    jobs.SESSION.shutdown()  # disabling the extension stops the backend and the timer
    bpy.types.TOPBAR_MT_file_import.remove(operators.menu_import)
    weights.unregister_properties()  # also stops a running download
    properties.unregister_properties()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    _registered = False
