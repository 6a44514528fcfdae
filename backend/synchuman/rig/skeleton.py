"""The humanoid skeleton every result gets: 54 deform bones derived from the body model's 104.

`BONES` is the one table: our (native) name, the body-model bones whose head is the bone's head,
its parent, the child whose head is its tail (none for end bones), the body-model bones it takes
over, and its Mixamo and Rigify (metarig) names. Every body-model bone not listed under some bone
gives its skin weight to the nearest listed ancestor (twist, shoulder, metacarpal, lower neck
bones...). docs/rig.md prints the table.

A bone is a frame in the output frame (metres, y up, facing +z): its head, its tail, and its axes
(x, y, z as columns, y along the bone, as in Blender). The axes come from the body model's bone
orientation, turned the least so that y runs from head to tail: the body model's rolls are
MakeHuman's, made for Blender.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np



def _side(rows):
    """Rows written once for the left side (.L / Left) -> both sides."""
    out = []
    for side, word in (("L", "Left"), ("R", "Right")):
        for name, heads, parent, tail, extra, mixamo, rigify in rows:
            def s(text):
                return text.replace("{s}", side) if text else text
            out.append((s(name), tuple(s(h) for h in heads), s(parent), s(tail), tuple(s(e) for e in extra),
                        "mixamorig:" + mixamo.replace("{S}", word), s(rigify)))
    return out


_FINGERS = (("thumb", "finger1", "Thumb", "thumb"), ("index", "finger2", "Index", "f_index"),
            ("middle", "finger3", "Middle", "f_middle"), ("ring", "finger4", "Ring", "f_ring"),
            ("pinky", "finger5", "Pinky", "f_pinky"))
_FINGER_ROWS = [(f"{ours}_{k:02d}.{{s}}", (f"{body}-{k}.{{s}}",), f"{ours}_{k - 1:02d}.{{s}}" if k > 1 else "hand.{s}",
                 f"{ours}_{k + 1:02d}.{{s}}" if k < 3 else "", (), f"{{S}}Hand{mix}{k}", f"{rig}.{k:02d}.{{s}}")
                for ours, body, mix, rig in _FINGERS for k in (1, 2, 3)]

# (name, head bones (mean of their heads), parent, tail child, extra body bones, Mixamo, Rigify)
BONES: tuple[tuple, ...] = tuple([
    ("hips", ("root",), "", "spine", ("pelvis.L", "pelvis.R", "spine05"), "mixamorig:Hips", "spine"),
    ("spine", ("spine04",), "hips", "chest", (), "mixamorig:Spine", "spine.001"),
    ("chest", ("spine02",), "spine", "upper_chest", (), "mixamorig:Spine1", "spine.002"),
    ("upper_chest", ("spine01",), "chest", "neck", (), "mixamorig:Spine2", "spine.003"),
    ("neck", ("neck01",), "upper_chest", "head", (), "mixamorig:Neck", "spine.004"),
    ("head", ("head",), "neck", "", (), "mixamorig:Head", "spine.006"),
    *_side([
        ("eye.{s}", ("eye.{s}",), "head", "", (), "{S}Eye", "eye.{s}"),
        ("clavicle.{s}", ("clavicle.{s}",), "upper_chest", "upper_arm.{s}", (), "{S}Shoulder", "shoulder.{s}"),
        ("upper_arm.{s}", ("upperarm01.{s}",), "clavicle.{s}", "forearm.{s}", (), "{S}Arm", "upper_arm.{s}"),
        ("forearm.{s}", ("lowerarm01.{s}",), "upper_arm.{s}", "hand.{s}", (), "{S}ForeArm", "forearm.{s}"),
        ("hand.{s}", ("wrist.{s}",), "forearm.{s}", "", (), "{S}Hand", "hand.{s}"),
        *_FINGER_ROWS,
        ("thigh.{s}", ("upperleg01.{s}",), "hips", "shin.{s}", (), "{S}UpLeg", "thigh.{s}"),
        ("shin.{s}", ("lowerleg01.{s}",), "thigh.{s}", "foot.{s}", (), "{S}Leg", "shin.{s}"),
        ("foot.{s}", ("foot.{s}",), "shin.{s}", "toe.{s}", (), "{S}Foot", "foot.{s}"),
        ("toe.{s}", ("toe1-1.{s}", "toe3-1.{s}", "toe5-1.{s}"), "foot.{s}", "",
         tuple(f"toe{t}-{k}.{{s}}" for t in range(1, 6) for k in (1, 2, 3) if not (t == 1 and k == 3)),
         "{S}ToeBase", "toe.{s}"),
    ]),
])
BONE_NAMES = tuple(row[0] for row in BONES)
MIXAMO_NAMES = dict((row[0], row[5]) for row in BONES)
RIGIFY_NAMES = dict((row[0], row[6]) for row in BONES)


def renamed(names, convention: str) -> list[str]:
    """Our names in a convention: native, mixamo, rigify."""
    if convention == "native":
        return list(names)
    table = {"mixamo": MIXAMO_NAMES, "rigify": RIGIFY_NAMES}[convention]
    return [table[n] for n in names]


def side_of(name: str) -> int:
    """+1 left, -1 right, 0 centre (native names)."""
    return 1 if name.endswith(".L") else -1 if name.endswith(".R") else 0


@dataclass
class Skeleton:
    """Bones in the output frame, parents before children (the order of BONES)."""

    names: list[str]
    parents: list[int]  # -1 for the root
    heads: np.ndarray  # (K, 3)
    tails: np.ndarray  # (K, 3)
    axes: np.ndarray  # (K, 3, 3) columns x, y, z; y from head to tail

    @property
    def count(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def world_matrices(self) -> np.ndarray:
        """(K, 4, 4) bone frames [axes | head]."""
        m = np.tile(np.eye(4), (self.count, 1, 1))
        m[:, :3, :3] = self.axes
        m[:, :3, 3] = self.heads
        return m

    @staticmethod
    def parents_of(names) -> list[int]:
        """Parent indices of bones named in BONES, in `names` order."""
        parent = {row[0]: row[2] for row in BONES}
        return [list(names).index(parent[n]) if parent[n] else -1 for n in names]

    def sides(self) -> np.ndarray:
        return np.array([side_of(n) for n in self.names])


def body_bone_map(body_labels: list[str], body_parents: list[int]) -> np.ndarray:
    """(J,) per body-model bone: the index of the skeleton bone that takes its weight."""
    owner = {}
    for k, (_name, heads, _p, _t, extra, _m, _r) in enumerate(BONES):
        for b in (*heads, *extra):
            owner[b] = k
    out = np.full(len(body_labels), -1)
    for j, label in enumerate(body_labels):  # parents come first, so theirs are known
        out[j] = owner.get(label, out[body_parents[j]] if body_parents[j] >= 0 else 0)
    return out


def collapse_weights(weights: np.ndarray, bone_map: np.ndarray, count: int) -> np.ndarray:
    """Dense (V, J) body weights -> (V, K) on the skeleton (a dropped bone's weight goes to its owner)."""
    out = np.zeros((weights.shape[0], count), dtype=np.float32)
    for j, k in enumerate(bone_map):
        out[:, k] += weights[:, j]
    return out


def _turn_onto(axes: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The frame `axes` turned the least so that its y column points along `direction`."""
    y = axes[:, 1]
    d = direction / max(np.linalg.norm(direction), 1e-12)
    v, c = np.cross(y, d), float(np.dot(y, d))
    if c < -0.999999:  # opposite: half a turn about x
        return axes @ np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    turn = np.eye(3) + k + k @ k / (1 + c)
    return turn @ axes


def build_skeleton(joints: np.ndarray, bone_rotations: np.ndarray, body_labels: list[str],
                   vertices: np.ndarray, body_weights: np.ndarray) -> Skeleton:
    """The skeleton of a posed body: joints (J, 3) and bone_rotations (J, 3, 3) in the output frame,
    its vertices (V, 3) and collapsed skin weights (V, K) (end bones reach as far as their vertices)."""
    index = {label: j for j, label in enumerate(body_labels)}
    names = list(BONE_NAMES)
    parents = Skeleton.parents_of(names)
    heads = np.array([np.mean([joints[index[h]] for h in row[1]], axis=0) for row in BONES])
    frames = np.array([bone_rotations[index[row[1][0]]] for row in BONES])
    tails = np.zeros_like(heads)
    axes = np.zeros_like(frames)
    dominant = body_weights.argmax(1)
    for k, row in enumerate(BONES):
        if row[3]:
            tails[k] = heads[names.index(row[3])]
        else:  # an end bone: along its own axis, as far as the vertices it mostly moves
            y = frames[k][:, 1]
            own = vertices[dominant == k]
            reach = ((own - heads[k]) @ y).max() if len(own) else 0.0
            tails[k] = heads[k] + y * max(float(reach), 0.01)
        axes[k] = _turn_onto(frames[k], tails[k] - heads[k])
    return Skeleton(names=names, parents=parents, heads=heads, tails=tails, axes=axes)
