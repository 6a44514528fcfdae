"""SyncHuman backend: turns a photo of a person into a textured 3D human.

The package never imports bpy. Heavy modules (torch, diffusers) are imported lazily
by the engines so that the stdio service answers `hello` at once.
"""

__version__ = "0.1.0"
