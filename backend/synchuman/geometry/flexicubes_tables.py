"""Lookup tables of Dual Marching Cubes as used by FlexiCubes, derived here from two rules.

Cube corners are numbered by bit: corner c sits at (c & 1, (c >> 1) & 1, (c >> 2) & 1), i.e.
(0,0,0), (1,0,0), (0,1,0), (1,1,0), (0,0,1), (1,0,1), (0,1,1), (1,1,1). The 12 edges are the
corner pairs in `CUBE_EDGES` (this order and the endpoint order of each pair are part of the
released decoder's weight layout: the 12 beta weights are per edge in this order, the 8 alpha
weights per corner). A case id is the bit mask of corners whose SDF is negative (inside).

1. Surface grouping (one dual vertex per group): a surface edge joins an inside and an
   outside corner. Inside corners are connected only along cube edges (6-connectivity);
   outside corners along cube edges and face diagonals (18-connectivity). Surface edges whose
   inside corner and outside corner lie in the same pair of components form one group.
2. Ambiguity check: a case with exactly one ambiguous face (two inside corners on one
   diagonal, two outside corners on the other) whose complement case has more groups is
   "to check" in the direction of that face's outward normal; if the neighbouring cube
   across that face is also a to-check cube, both use the complement case's grouping.

Both rules were checked to reproduce the FlexiCubes reference tables for all 256 cases
(same groups as sets, same 36 check entries and directions).
"""

from __future__ import annotations

from functools import lru_cache

CORNERS = [(c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)]
CUBE_EDGES = [(0, 1), (1, 5), (4, 5), (0, 4), (2, 3), (3, 7), (6, 7), (2, 6), (2, 0), (3, 1), (7, 5), (6, 4)]
MAX_GROUPS = 4
MAX_GROUP_EDGES = 7


def _distance(a: int, b: int) -> int:
    return sum(abs(p - q) for p, q in zip(CORNERS[a], CORNERS[b]))


def _components(nodes: list[int], max_step: int) -> dict[int, int]:
    parent = {n: n for n in nodes}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a in nodes:
        for b in nodes:
            if a < b and _distance(a, b) <= max_step:
                parent[find(a)] = find(b)
    return {n: find(n) for n in nodes}


def surface_groups(case: int) -> list[list[int]]:
    """The edge groups (each a sorted list of edge numbers) of one case, sorted."""
    inside = [c for c in range(8) if case >> c & 1]
    outside = [c for c in range(8) if not case >> c & 1]
    comp_in = _components(inside, 1)
    comp_out = _components(outside, 2)
    groups: dict[tuple[int, int], list[int]] = {}
    for e, (a, b) in enumerate(CUBE_EDGES):
        if (case >> a & 1) != (case >> b & 1):
            i, o = (a, b) if case >> a & 1 else (b, a)
            groups.setdefault((comp_in[i], comp_out[o]), []).append(e)
    return sorted(sorted(g) for g in groups.values())


_FACES = {
    (-1, 0, 0): (0, 0), (1, 0, 0): (0, 1),
    (0, -1, 0): (1, 0), (0, 1, 0): (1, 1),
    (0, 0, -1): (2, 0), (0, 0, 1): (2, 1),
}


def ambiguous_faces(case: int) -> list[tuple[int, int, int]]:
    out = []
    for direction, (axis, side) in _FACES.items():
        face = [c for c in range(8) if CORNERS[c][axis] == side]
        inside = [c for c in face if case >> c & 1]
        if len(inside) == 2 and _distance(*inside) == 2:
            out.append(direction)
    return out


@lru_cache(maxsize=1)
def tables() -> tuple[list[list[list[int]]], list[int], list[list[int]]]:
    """(dmc_table 256 x 4 x 7 padded with -1, num_vd_table 256, check_table 256 x 5).

    check_table row: [to_check, dx, dy, dz, inverted case]."""
    dmc, num_vd, check = [], [], []
    for case in range(256):
        groups = surface_groups(case)
        num_vd.append(len(groups))
        rows = [g + [-1] * (MAX_GROUP_EDGES - len(g)) for g in groups]
        rows += [[-1] * MAX_GROUP_EDGES] * (MAX_GROUPS - len(rows))
        dmc.append(rows)
        amb = ambiguous_faces(case)
        if len(amb) == 1 and len(groups) < len(surface_groups(255 - case)):
            check.append([1, *amb[0], 255 - case])
        else:
            check.append([0, 0, 0, 0, 0])
    return dmc, num_vd, check
