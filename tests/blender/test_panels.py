"""The panel and preferences draw code in every job state. Headless Blender cannot draw, so a
recording stand-in for UILayout checks that every property, operator and icon used exists
and records the text the artist would see."""

from __future__ import annotations

import time

import bpy
import pytest

from blender_helpers import PACKAGE

ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


class FakeLayout:
    """Records what a draw function shows; fails on unknown properties, operators and icons."""

    def __init__(self, seen: list):
        self.seen = seen
        self.scale_y = self.scale_x = 1.0
        self.enabled = self.active = self.alert = True
        self.use_property_split = self.use_property_decorate = False

    def _child(self, *args, **kwargs):
        return FakeLayout(self.seen)

    row = column = box = split = _child

    def separator(self, **kwargs):
        pass

    def _icon(self, icon):
        assert icon in ICONS, f"unknown icon {icon}"

    def label(self, text="", icon='NONE', **kwargs):
        self._icon(icon)
        self.seen.append(("label", text))

    def prop(self, data, attribute, icon='NONE', **kwargs):
        self._icon(icon)
        assert attribute in data.bl_rna.properties, f"no property {attribute} on {data}"
        self.seen.append(("prop", attribute))

    def template_ID(self, data, attribute, **kwargs):
        assert attribute in data.bl_rna.properties
        self.seen.append(("template_ID", attribute))

    def operator(self, idname, text=None, icon='NONE', **kwargs):
        self._icon(icon)
        category, name = idname.split(".")
        getattr(getattr(bpy.ops, category), name).get_rna_type()  # raises for unknown operators
        self.seen.append(("operator", idname, text))
        return type("OperatorProperties", (), {})()

    def operator_menu_enum(self, idname, property, text=None, icon='NONE', **kwargs):
        self._icon(icon)
        category, name = idname.split(".")
        assert property in getattr(getattr(bpy.ops, category), name).get_rna_type().properties
        self.seen.append(("operator_menu_enum", idname, property))

    def progress(self, factor=0.0, type='BAR', text=""):
        assert 0.0 <= factor <= 1.0
        self.seen.append(("progress", factor, text))


class StandIn:
    """`self` for a draw method: our layout, everything else from `target` (preferences, or the panel
    class's own attributes)."""

    def __init__(self, layout, target=None):
        self.layout = layout
        self._target = target

    def __getattr__(self, name):
        return getattr(self._target, name)


def draw(panel_class, context=None, target=None):
    seen = []
    panel = StandIn(FakeLayout(seen), panel_class if target is None else target)
    panel_class.draw(panel, context or bpy.context)
    if hasattr(panel_class, "draw_header"):
        panel_class.draw_header(panel, context or bpy.context)
    return seen


def texts(seen):
    return " ".join(str(item[1]) for item in seen if item[0] == "label")


@pytest.fixture
def state(ext):
    return bpy.context.window_manager.synchuman_job


def test_idle_panel_shows_settings_and_why_the_button_is_disabled(ext, state):
    seen = draw(ext.panels.SYNCHUMAN_PT_main)
    props = {item[1] for item in seen if item[0] == "prop"}
    assert {"source", "photo_path", "engine", "seed", "height_m", "texture_size", "max_faces"} <= props
    assert ("operator", "synchuman.reconstruct", None) in seen
    assert "Choose a photo of a person first" in texts(seen)
    bpy.context.scene.synchuman.source = 'IMAGE'
    assert ("template_ID", "image") in draw(ext.panels.SYNCHUMAN_PT_main)
    bpy.context.scene.synchuman.source = 'EDITOR'
    assert "No Image Editor shows an image" in texts(draw(ext.panels.SYNCHUMAN_PT_main))


def test_running_panel_shows_stage_progress_steps_elapsed_and_cancel(ext, state):
    ext.jobs.SESSION.job = type("Job", (), {"started_at": time.time() - 75})()  # a job in flight
    try:
        state.status, state.photo_name = 'RUNNING', "anna"
        state.stage_label, state.stage_index, state.stage_count = "Building the mesh", 2, 7
        state.step, state.total, state.fraction = 3, 8, 0.41
        seen = draw(ext.panels.SYNCHUMAN_PT_main)
        text = texts(seen)
        assert "anna: [3/7] Building the mesh" in text
        assert "Step 3/8" in text and "Elapsed 1:15" in text
        assert ("progress", pytest.approx(0.41), "41%") in seen
        assert ("operator", "synchuman.cancel", "Cancel") in seen
        assert not [s for s in seen if s[:2] == ("operator", "synchuman.reconstruct")]
        state.status = 'CANCELLING'
        assert ("operator", "synchuman.cancel", "Cancelling…") in draw(ext.panels.SYNCHUMAN_PT_main)
    finally:
        ext.jobs.SESSION.job = None


def test_failed_panel_shows_message_hint_code_and_log(ext, state):
    state.status = 'FAILED'
    state.error_code = "backend.exited"
    state.error_message = "The backend stopped unexpectedly (exit code -9)."
    state.error_hint = "Its last log lines are below; the next job starts it again."
    state.error_log = "line one\nTraceback: boom"
    text = texts(draw(ext.panels.SYNCHUMAN_PT_main))
    for part in ("stopped unexpectedly", "next job starts it again", "backend.exited", "Traceback: boom"):
        assert part in text


def test_done_and_cancelled_outcomes(ext, state):
    state.status, state.result_object, state.elapsed_s = 'DONE', "anna", 12.0
    assert "Imported anna in 0:12" in texts(draw(ext.panels.SYNCHUMAN_PT_main))
    state.result_notes = "the photo was downscaled\nno background-removal model"
    text = texts(draw(ext.panels.SYNCHUMAN_PT_main))
    assert "the photo was downscaled" in text and "no background-removal model" in text
    state.status = 'CANCELLED'
    assert "Cancelled; nothing was imported" in texts(draw(ext.panels.SYNCHUMAN_PT_main))
    assert bpy.ops.synchuman.dismiss() == {'FINISHED'} and state.status == 'IDLE'


def test_backend_status_and_preferences(ext, state):
    state.backend_state, state.backend_version = 'READY', "0.1.0"
    state.backend_engines, state.backend_device = "preview ✓, synchuman ✗", "cpu · 2 cores"
    text = texts(draw(ext.panels.SYNCHUMAN_PT_backend))
    assert "Backend: ready (synchuman 0.1.0)" in text and "preview ✓" in text and "cpu · 2 cores" in text
    state.backend_state, state.backend_message = 'DEAD', "The backend stopped unexpectedly (exit code 1)."
    state.backend_log = "Traceback (most recent call last):\nMemoryError"
    text = texts(draw(ext.panels.SYNCHUMAN_PT_backend))
    assert "stopped unexpectedly" in text and "MemoryError" in text and "next job starts it again" in text
    prefs = bpy.context.preferences.addons[PACKAGE].preferences
    seen = draw(type(prefs), target=prefs)  # AddonPreferences.draw with the same stand-in
    props = {item[1] for item in seen if item[0] == "prop"}
    assert {"backend_python", "weights_dir", "device", "precision", "memory_mode", "start_on_demand"} <= props
    ops = {item[1] for item in seen if item[0] == "operator"}
    assert {"synchuman.start_backend", "synchuman.release_backend", "synchuman.copy_diagnostics"} <= ops


def test_rig_subpanel_and_request(ext, tmp_path):
    seen = draw(ext.panels.SYNCHUMAN_PT_rig)
    assert {"rig", "rest_pose", "rig_names"} <= {i[1] for i in seen if i[0] == "prop"}
    settings = bpy.context.scene.synchuman
    photo = tmp_path / "p.png"
    photo.write_bytes(b"x")
    settings.photo_path = str(photo)
    sent = ext.request.build_request(bpy.context).settings
    assert (sent["rig"], sent["rig_names"], sent["rest_pose"]) == (True, "native", "photo")
    settings.rig, settings.rig_names, settings.rest_pose = False, "mixamo", "t-pose"
    sent = ext.request.build_request(bpy.context).settings
    assert (sent["rig"], sent["rig_names"], sent["rest_pose"]) == (False, "mixamo", "t-pose")


def test_asset_subpanel(ext):
    seen = draw(ext.panels.SYNCHUMAN_PT_asset)
    assert {"asset_catalog", "asset_tags", "library_dir", "mark_asset"} <= {i[1] for i in seen if i[0] == "prop"}
