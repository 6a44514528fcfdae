"""The GLB writer: what viewers and Blender read back is what we meant."""

from __future__ import annotations

import io

import numpy as np
import trimesh
from PIL import Image

from synchuman.export.glb import png_bytes, read_glb_json, write_glb, zup_to_yup


def quad():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 2, 0], [0, 2, 0]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    texture = np.zeros((4, 8, 3), np.uint8)
    texture[0] = (255, 0, 0)      # top row: v = 1
    texture[-1] = (0, 0, 255)     # bottom row: v = 0
    return vertices, faces, uv, texture


def test_png_round_trip():
    for image in (np.random.default_rng(0).integers(0, 256, (5, 7, c), dtype=np.uint8) for c in (3, 4)):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(image)))), image)
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(gray)))), gray)


def test_glb_reads_back_with_geometry_uv_texture_and_material(tmp_path):
    vertices, faces, uv, texture = quad()
    normals = np.tile([0.0, 0.0, 1.0], (4, 1))
    path = write_glb(tmp_path / "q.glb", vertices, faces, uv, texture, vertex_normals=normals,
                     normal_map=np.full((2, 2, 3), 128, np.uint8), roughness=0.7, extras={"engine": "test"})
    gltf = read_glb_json(path)
    material = gltf["materials"][0]
    assert material["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    assert material["pbrMetallicRoughness"]["roughnessFactor"] == 0.7
    assert material["doubleSided"] is False and material["normalTexture"] == {"index": 1}
    assert gltf["scenes"][0]["extras"] == {"engine": "test"}
    accessor = gltf["accessors"][gltf["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert accessor["min"] == [0, 0, 0] and accessor["max"] == [1, 2, 0]

    mesh = trimesh.load(path, force="mesh", process=False)
    assert np.allclose(mesh.vertices, vertices) and np.array_equal(mesh.faces, faces)
    assert np.allclose(mesh.visual.uv, uv)  # trimesh reports v up, as we wrote it
    image = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    assert np.array_equal(image, texture)
    # The vertex at v = 1 samples the top (red) row.
    top = (np.asarray(mesh.visual.uv[2]) * [image.shape[1] - 1, image.shape[0] - 1]).astype(int)
    assert tuple(image[image.shape[0] - 1 - top[1], top[0]]) == (255, 0, 0)


def test_zup_to_yup_turns_the_front():
    # A point in front of a -Y-facing person (negative y) ends up in front along +Z.
    assert np.allclose(zup_to_yup(np.array([[0.0, -1.0, 2.0]])), [[0.0, 2.0, 1.0]])
