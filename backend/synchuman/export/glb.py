"""GLB writing: textured triangle meshes with PBR metallic-roughness materials, optionally skinned.

Pure numpy and the standard library (PNG included), so it is quick to import and also usable
from Blender's Python. glTF is y-up with the front along +Z; the networks work z-up facing -Y,
so `zup_to_yup` maps (x, y, z) -> (x, z, -y), which turns "faces -Y" into "faces +Z".
`metallicFactor` is always written: the glTF default of 1.0 makes skin look like metal.
A `Skin` adds a glTF skin: one node per bone (parents first, local translation + rotation so that
each bone's +Y runs along it, as Blender's importer expects with its "Blender" bone heuristic),
inverse bind matrices, and JOINTS_0/WEIGHTS_0 with at most 4 normalised influences per vertex.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

FLOAT, UINT32, UINT16 = 5126, 5125, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
LINEAR, LINEAR_MIPMAP_LINEAR, REPEAT = 9729, 9987, 10497


class Skin(NamedTuple):
    """Bones in the glTF frame and the mesh's influences (a NamedTuple: this module also runs
    loaded from its file alone, where a dataclass cannot resolve its annotations)."""

    names: list[str]
    parents: list[int]  # -1 for the root; parents before children
    matrices: np.ndarray  # (K, 4, 4) each bone's frame at rest (bind pose): [x y z axes | head]
    joints: np.ndarray  # (V, 4) bone indices
    weights: np.ndarray  # (V, 4) summing to 1
    lengths: np.ndarray | None = None  # (K,) bone lengths, written as node extras "bone_length"


def quaternion_xyzw(rotation: np.ndarray) -> list[float]:
    """A 3x3 rotation as a glTF quaternion [x, y, z, w]."""
    m = np.asarray(rotation, dtype=np.float64)
    w = np.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = np.copysign(np.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    q = np.array([x, y, z, w])
    return (q / np.linalg.norm(q)).tolist()


def zup_to_yup(vertices: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


def png_bytes(image: np.ndarray, level: int = 4) -> bytes:
    """(H, W, 3|4) or (H, W) uint8, row 0 on top, as a PNG file (level 4: fast, ~10 % larger than 9)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # filter byte 0 on every row
    rows[:, 1:] = image.reshape(height, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))


class GlbBuilder:
    """Collects buffers, accessors, images, materials, meshes and nodes; `to_bytes` packs a GLB."""

    def __init__(self, generator: str = "synchuman"):
        self.blob = bytearray()
        self.doc: dict[str, Any] = {"asset": {"version": "2.0", "generator": generator}, "scene": 0,
                                    "scenes": [{"nodes": []}], "nodes": [], "meshes": [], "materials": [],
                                    "accessors": [], "bufferViews": []}

    def _view(self, data: bytes, target: int | None = None) -> int:
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target:
            view["target"] = target
        self.blob.extend(data)
        self.doc["bufferViews"].append(view)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, kind: str, indices: bool = False, bounds: bool = False,
                 component: int | None = None, target: bool = True) -> int:
        component = component or (UINT32 if indices else FLOAT)
        dtype = {FLOAT: np.float32, UINT32: np.uint32, UINT16: np.uint16}[component]
        array = np.ascontiguousarray(array, dtype=dtype)
        view_target = (ELEMENT_ARRAY_BUFFER if indices else ARRAY_BUFFER) if target else None
        entry = {"bufferView": self._view(array.tobytes(), view_target),
                 "componentType": component, "count": int(len(array)), "type": kind}
        if bounds:
            entry["min"] = array.min(axis=0).tolist()
            entry["max"] = array.max(axis=0).tolist()
        self.doc["accessors"].append(entry)
        return len(self.doc["accessors"]) - 1

    def texture(self, image: np.ndarray) -> int:
        doc = self.doc
        doc.setdefault("samplers", [{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR,
                                     "wrapS": REPEAT, "wrapT": REPEAT}])
        doc.setdefault("images", []).append({"bufferView": self._view(png_bytes(image)), "mimeType": "image/png"})
        doc.setdefault("textures", []).append({"source": len(doc["images"]) - 1, "sampler": 0})
        return len(doc["textures"]) - 1

    def material(self, name: str, *, base_color: np.ndarray | None = None, normal_map: np.ndarray | None = None,
                 roughness: float = 0.8, metallic: float = 0.0, double_sided: bool = False) -> int:
        pbr: dict[str, Any] = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": float(metallic),
                               "roughnessFactor": float(roughness)}
        if base_color is not None:
            pbr["baseColorTexture"] = {"index": self.texture(base_color)}
        material: dict[str, Any] = {"name": name, "pbrMetallicRoughness": pbr, "doubleSided": double_sided}
        if normal_map is not None:
            material["normalTexture"] = {"index": self.texture(normal_map)}
        self.doc["materials"].append(material)
        return len(self.doc["materials"]) - 1

    def mesh(self, name: str, vertices: np.ndarray, faces: np.ndarray, material: int, *,
             uv: np.ndarray | None = None, normals: np.ndarray | None = None, skin: Skin | None = None) -> int:
        """vertices (V,3) in the glTF frame; uv (V,2) with v up (row 0 of a texture is v = 1)."""
        attributes = {"POSITION": self.accessor(vertices, "VEC3", bounds=True)}
        if skin is not None:
            attributes["JOINTS_0"] = self.accessor(skin.joints, "VEC4", component=UINT16)
            attributes["WEIGHTS_0"] = self.accessor(skin.weights, "VEC4")
        if normals is not None:
            attributes["NORMAL"] = self.accessor(normals, "VEC3")
        if uv is not None:
            uv = np.asarray(uv, dtype=np.float64)
            attributes["TEXCOORD_0"] = self.accessor(np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1), "VEC2")
        primitive = {"attributes": attributes, "indices": self.accessor(np.asarray(faces).reshape(-1), "SCALAR",
                                                                      indices=True),
                     "material": material, "mode": 4}
        self.doc["meshes"].append({"name": name, "primitives": [primitive]})
        return len(self.doc["meshes"]) - 1

    def node(self, name: str, *, mesh: int | None = None, children: list[int] | None = None,
             root: bool = True, **transform: Any) -> int:
        node: dict[str, Any] = {"name": name, **transform}
        if mesh is not None:
            node["mesh"] = mesh
        if children:
            node["children"] = children
        self.doc["nodes"].append(node)
        index = len(self.doc["nodes"]) - 1
        if root:
            self.doc["scenes"][0]["nodes"].append(index)
        return index

    def skin(self, skin: Skin) -> int:
        """The bone nodes (the root one in the scene) and the glTF skin; returns the skin's index."""
        matrices = np.asarray(skin.matrices, dtype=np.float64)
        first = len(self.doc["nodes"])
        for k, (name, parent) in enumerate(zip(skin.names, skin.parents)):
            local = matrices[k] if parent < 0 else np.linalg.inv(matrices[parent]) @ matrices[k]
            extras = {} if skin.lengths is None else {"extras": {"bone_length": round(float(skin.lengths[k]), 6)}}
            self.node(name, root=parent < 0, translation=[float(v) for v in local[:3, 3]],
                      rotation=quaternion_xyzw(local[:3, :3]), **extras)
        for k, parent in enumerate(skin.parents):
            if parent >= 0:
                self.doc["nodes"][first + parent].setdefault("children", []).append(first + k)
        inverse = np.linalg.inv(matrices).transpose(0, 2, 1).reshape(-1, 16)  # glTF matrices are column-major
        self.doc.setdefault("skins", []).append({
            "name": "rig", "joints": list(range(first, first + len(skin.names))),
            "skeleton": first + skin.parents.index(-1),
            "inverseBindMatrices": self.accessor(inverse, "MAT4", target=False)})
        return len(self.doc["skins"]) - 1

    def to_bytes(self, extras: dict | None = None) -> bytes:
        doc = {k: v for k, v in self.doc.items() if v != []}
        if extras:
            doc["scenes"][0]["extras"] = extras
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        doc["buffers"] = [{"byteLength": len(self.blob)}]
        body = json.dumps(doc, separators=(",", ":"), default=str).encode()
        body += b" " * (-len(body) % 4)
        total = 12 + 8 + len(body) + 8 + len(self.blob)
        return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(body), b"JSON") + body
                + struct.pack("<I4s", len(self.blob), b"BIN\0") + bytes(self.blob))


def write_glb(path: str | Path, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray,
              *, normal_map: np.ndarray | None = None, vertex_normals: np.ndarray | None = None,
              roughness: float = 0.8, metallic: float = 0.0, name: str = "human",
              extras: dict | None = None, skin: Skin | None = None) -> Path:
    """Writes one textured mesh as a GLB, atomically (temporary file, then rename).

    vertices (V,3) in the glTF frame (y-up, metres); faces (F,3); uv (V,2) with v up (row 0 of
    `texture` is v = 1); texture (H,W,3|4) uint8; normal_map (H,W,3) uint8 tangent-space;
    skin: bones and influences in the same frame (the mesh is bound to them at rest).
    """
    glb = GlbBuilder()
    material = glb.material(f"{name}_material", base_color=texture, normal_map=normal_map, roughness=roughness,
                            metallic=metallic)
    mesh = glb.mesh(name, vertices, faces, material, uv=uv, normals=vertex_normals, skin=skin)
    if skin is not None:
        glb.node(name, mesh=mesh, skin=glb.skin(skin))
    else:
        glb.node(name, mesh=mesh)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(glb.to_bytes(extras))
    tmp.replace(path)
    return path


def read_glb_accessor(path: str | Path, index: int) -> np.ndarray:
    """One accessor's data as an array of (count, components) (for checks and tests)."""
    data = Path(path).read_bytes()
    doc = read_glb_json(path)
    chunk_len = struct.unpack_from("<I", data, 12)[0]
    blob = data[20 + chunk_len + 8:]
    accessor = doc["accessors"][index]
    view = doc["bufferViews"][accessor["bufferView"]]
    dtype = {FLOAT: np.float32, UINT32: np.uint32, UINT16: np.uint16}[accessor["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[accessor["type"]]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    return np.frombuffer(blob, dtype, accessor["count"] * width, start).reshape(accessor["count"], width)


def read_glb_json(path: str | Path) -> dict:
    """The JSON chunk of a GLB (for checks and tests)."""
    data = Path(path).read_bytes()
    magic, version, _length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2:
        raise ValueError(f"{path} is not a glTF 2.0 binary")
    chunk_len, chunk_type = struct.unpack_from("<I4s", data, 12)
    if chunk_type != b"JSON":
        raise ValueError(f"{path}: first chunk is not JSON")
    return json.loads(data[20:20 + chunk_len])
