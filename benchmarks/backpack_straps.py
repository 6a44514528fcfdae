"""How often the preview finds a backpack by its straps, and how often it finds one that is not there.

    python benchmarks/backpack_straps.py [--seeds 0 1 2 ...] [--size 1024]

Every person of the clothed benchmark (clothed_people.py) on each seed, cut out by the real
foreground and pose step; `find_straps` on the photo. A person wears a backpack when its garments
say so. Prints one line per person and seed, then the table: found / worn, and false finds / not worn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clothed_people as cp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=list(range(8)))
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()

    from synchuman.engines.preview.straps import find_straps
    from synchuman.foreground import cut_person

    hits = {"worn": [0, 0], "not worn": [0, 0]}   # [found, people]
    started = time.monotonic()
    for seed in args.seeds:
        for index, spec in enumerate(cp.CASES):
            worn = "backpack" in spec[2]
            rgb = cp.render_case(spec, args.size, seed=1000 * seed + index + 1)["photo"][..., :3]
            person = cut_person(rgb)
            found = person.pose is not None and find_straps(rgb, person.alpha >= 128, person.pose.image) is not None
            key = "worn" if worn else "not worn"
            hits[key][0] += found
            hits[key][1] += 1
            flag = "" if found == worn else ("  MISSED" if worn else "  FALSE")
            print(f"seed {seed} {spec[0]:28s} worn {worn!s:5s} found {found!s:5s}{flag}", flush=True)
    print(f"\n{len(args.seeds)} seeds, {args.size} px, {time.monotonic() - started:.0f} s")
    print("| backpack | people | straps found |")
    print("|---|---|---|")
    for key, (found, people) in hits.items():
        print(f"| {key} | {people} | {found} ({100 * found / max(people, 1):.0f} %) |")


if __name__ == "__main__":
    main()
