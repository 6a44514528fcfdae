"""Clothed synthetic people in real-looking scenes, with exact ground truth, for the foreground/pose
and body-fit benchmarks (issues 12 and 15).

Unlike synthetic_people.py (ellipsoid unions on flat backgrounds), a person here is our own smooth
body (people_body: no body model, so a body-model fit is not flattered) wearing garments with their
own geometry (people_garments), posed, shaded and textured (people_paint), rendered by a numpy
z-buffer (people_render) in front of ray-cast floors and walls textured with scikit-image's CC0 photos,
a street, or a full-frame photo (people_scenes), with props: a box to sit on, a dog, a ball, a second
person, a watermark.

Ground truth per case (truth.npz): the target person's mask and coverage, the dressed mesh and the
bare body mesh in the GLB frame (metres, y up, facing +Z, feet at y = 0, pelvis over the origin), part
labels, 3D joints and their pixel positions, the person box and the camera.

    python benchmarks/clothed_people.py --out /tmp/people            # ~16 cases + contact_sheet.png
    python benchmarks/clothed_people.py --out /tmp/people --detect   # + a MediaPipe BlazePose table
    python benchmarks/clothed_people.py --out /tmp/held_out --seed 7 # other people, same cases

Deterministic for a given seed (numpy's PCG64).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import people_body as pb  # noqa: E402
import people_paint as paint  # noqa: E402
import people_scenes as scenes  # noqa: E402
from people_garments import dress  # noqa: E402
from people_render import Camera, interpolate, nearest_vertex, rasterize  # noqa: E402
from people_shapes import Group, Mesh, mesh_groups, occlusion  # noqa: E402

# name, pose, garments, backdrop, options
CASES = [
    ("standing_studio", "standing", (), "studio", {"ortho": True}),
    ("arms_out_brick", "arms_out", ("long_hair",), "brick_room", {}),
    ("walking_coat_street", "walking", ("coat",), "street", {}),
    ("seated_trousers_box", "seated", ("wide_trousers",), "gravel_yard", {"seat": True}),
    ("kneeling_hood_garden", "kneeling", ("hood",), "garden", {}),
    ("crossed_arms_hair_rocket", "crossed_arms", ("long_hair",), "photo_rocket", {}),
    ("turned30_skirt_studio", "standing", ("skirt", "long_hair"), "studio", {"yaw": 30, "female": True}),
    ("raised_knee_backpack", "raised_knee", ("backpack",), "brick_room", {}),
    ("half_body_hood_chelsea", "standing", ("hood",), "photo_chelsea", {"half": True}),
    ("two_people_street", "standing", ("backpack",), "street", {"second": True}),
    ("small_person_garden", "walking", ("skirt",), "garden", {"fill": 0.3, "offset": (0.25, 0.1), "female": True}),
    ("dog_trousers_garden", "standing", ("wide_trousers",), "garden", {"dog": True}),
    ("ball_walking_yard", "walking", ("long_hair",), "gravel_yard", {"ball": True, "female": True}),
    ("watermark_coat_coffee", "arms_out", ("coat",), "photo_coffee", {"watermark": True}),
    ("seated_hair_backpack_room", "seated", ("long_hair", "backpack"), "brick_room", {"seat": True, "female": True}),
    ("turned_coat_backpack_yard", "walking", ("coat", "backpack"), "gravel_yard", {"yaw": -25}),
]
TARGET, SECOND = 0, 1


@dataclass
class Person:
    mesh: Mesh                 # dressed, world frame
    nominal: np.ndarray        # (V,3) the same vertices in the nominal frame (for patterns)
    nominal_normals: np.ndarray
    ao: np.ndarray
    joints: dict               # world frame
    outfit: dict
    groups: list[Group]        # nominal frame: [body, *garments]
    transform: tuple[float, float, np.ndarray]   # (scale, yaw_deg, translation): world = R(k p) + t
    body_mesh: Mesh | None = None
    extra: dict = field(default_factory=dict)

    def to_world(self, p: np.ndarray) -> np.ndarray:
        k, yaw, t = self.transform
        return (k * np.asarray(p, float)) @ _yaw(yaw).T + t

    def to_nominal(self, p: np.ndarray) -> np.ndarray:
        k, yaw, t = self.transform
        return ((np.asarray(p, float) - t) @ _yaw(yaw)) / k


def _yaw(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def make_person(pose: str, garments: tuple[str, ...] = (), seed: int = 0, *, height: float = 1.72,
                yaw_deg: float = 0.0, female: bool = False, position=(0.0, 0.0), step: float = 0.008,
                bare_body: bool = True) -> Person:
    rng = np.random.default_rng(seed)
    J = pb.skeleton(pose, rng)
    body = pb.body_group(J, female, rng.uniform(0.92, 1.1))
    if not {"long_hair", "hood"} & set(garments):
        garments = (*garments, "short_hair")
    groups = [body, *dress(J, body, garments)]
    mesh = mesh_groups(groups, step)
    ao = occlusion(groups, mesh.vertices, mesh.normals)
    k = height / pb.NOMINAL_HEIGHT
    floor = mesh.vertices[:, 1].min()
    pel = J["pelvis"]
    R = _yaw(yaw_deg)
    t = np.array([position[0], 0.0, position[1]]) - (k * np.array([pel[0], floor, pel[2]])) @ R.T
    clothes = paint.outfit(rng, sleeves=("short", "long", "none")[rng.integers(3)],
                           legs="bare" if "skirt" in garments else "trousers")
    p = Person(mesh, mesh.vertices, mesh.normals, ao, {}, clothes, groups, (k, yaw_deg, t),
               extra={"pose": pose, "garments": list(garments), "J": J, "height": height})
    p.mesh = Mesh(p.to_world(mesh.vertices), mesh.faces, mesh.normals @ R.T, mesh.labels)
    p.joints = {n: p.to_world(J[n]) for n in pb.JOINTS}
    if bare_body:
        bm = mesh_groups([body], step)
        p.body_mesh = Mesh(p.to_world(bm.vertices), bm.faces, bm.normals @ R.T, bm.labels)
    return p


def frame_camera(points: np.ndarray, size: int, *, ortho: bool, fill: float, offset=(0.0, 0.0),
                 distance: float = 4.2, eye_m: float | None = None) -> Camera:
    """A camera at eye height (or `eye_m` above the floor) looking at the points' centre, scaled so
    they fill `fill` of the frame."""
    lo, hi = points.min(0), points.max(0)
    target = (lo + hi) / 2
    eye = np.array([target[0], eye_m if eye_m is not None else min(1.5, target[1] + 0.3), target[2] + distance])
    cam = Camera.look_at(eye, target, 1.0, (size, size), orthographic=ortho)
    uv, _ = cam.project(points)
    ext = (uv.max(0) - uv.min(0)).max()
    cam.focal = fill * size / ext
    uv, _ = cam.project(points)
    mid = (uv.max(0) + uv.min(0)) / 2
    cam.centre = (cam.centre[0] + size / 2 - mid[0] + offset[0] * size, cam.centre[1] + size / 2 - mid[1] + offset[1] * size)
    return cam


def _watermark(img: np.ndarray, text: str = "© STOCKPHOTO  sample") -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    h, w = img.shape[:2]
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(12, w // 14))
    for i, y in enumerate(range(h // 6, h, h // 3)):
        draw.text((w // 10 + (i % 2) * w // 8, y), text, fill=255, font=font)
    a = np.asarray(layer, np.float32)[..., None] / 255.0 * 0.45
    return img * (1 - a) + a


def render_case(spec, size: int = 1024, ss: int = 2, step: float = 0.008, seed: int = 0) -> dict:
    """One photo and its ground truth. spec: an entry of CASES."""
    name, pose, garments, backdrop, opt = spec
    rng = np.random.default_rng(seed)
    person = make_person(pose, garments, seed, height=rng.uniform(1.6, 1.85), female=opt.get("female", False),
                         yaw_deg=opt.get("yaw", rng.uniform(-8, 8)), step=step)
    objects = [("person", person.mesh, person)]
    if opt.get("second"):
        other = make_person("walking", ("long_hair",), seed + 100, height=1.7, yaw_deg=-20, position=(1.3, -2.2),
                            female=True, step=step * 1.5, bare_body=False)
        objects.append(("person", other.mesh, other))
    props = []
    if opt.get("seat"):
        v = person.mesh.vertices     # the box top touches the lowest point under the thighs
        knees_z = min(person.joints["knee_l"][2], person.joints["knee_r"][2])
        under = (v[:, 2] > person.joints["pelvis"][2] - 0.1) & (v[:, 2] < knees_z - 0.08) & (v[:, 1] > 0.25)
        props.append(scenes.seat_box(v[under, 1].min() - 0.004, knees_z - 0.06))
    if opt.get("dog"):
        props.append(scenes.dog(0.62, 0.25, scale=0.9, facing=-1.0))
    if opt.get("ball"):
        props.append(scenes.ball(-0.45, 0.35))
    if backdrop == "street":
        props.extend(scenes.street_furniture(rng))
    for g in props:   # street furniture stands metres away: a coarse grid is enough
        objects.append(("prop", mesh_groups([g], 0.04 if g.shapes[0].label >= 103 else 0.012), None))

    framing = person.mesh.vertices
    if opt.get("half"):
        framing = framing[framing[:, 1] > person.joints["pelvis"][1] + 0.08]
    cam = frame_camera(framing, size, ortho=opt.get("ortho", False), fill=opt.get("fill", 0.95 if opt.get("half") else 0.86),
                       offset=opt.get("offset", (-0.12, 0.0) if opt.get("second") else (0.0, 0.0)), eye_m=opt.get("eye_m"))
    rgb, alpha, cover_all = _shade_scene(objects, cam, ss)
    contacts = np.concatenate([m.vertices[m.vertices[:, 1] < 0.03] for _, m, _ in objects])[::7]
    bg = scenes.Backdrop(backdrop, rng).render(cam, contacts)
    img = rgb + bg * (1.0 - cover_all[..., None])
    if opt.get("watermark"):
        img = _watermark(img)
    img = img + rng.normal(0.0, 0.012, img.shape)
    photo = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return _truth(name, spec, person, cam, photo, alpha, backdrop, seed)


def _shade_scene(objects, cam: Camera, ss: int):
    """Premultiplied colour, the target's coverage and everything's coverage at the final size."""
    verts, faces, owner = [], [], []
    base = 0
    for i, (_, m, _) in enumerate(objects):
        verts.append(m.vertices)
        faces.append(m.faces + base)
        owner.append(np.full(len(m.faces), i))
        base += len(m.vertices)
    V, F, owner = np.concatenate(verts), np.concatenate(faces), np.concatenate(owner)
    normals = np.concatenate([m.normals for _, m, _ in objects])
    r = rasterize(cam.scaled(ss), V, F)
    hit = r.face >= 0
    obj = np.where(hit, owner[np.maximum(r.face, 0)], -1)
    colour = np.zeros(hit.shape + (3,))
    base = 0
    for i, (kind, m, person) in enumerate(objects):
        sel = obj == i
        if sel.any():
            n_world = interpolate(r, F, normals, sel)
            n_world /= np.linalg.norm(n_world, axis=1, keepdims=True) + 1e-12
            vid = nearest_vertex(r, F, sel) - base
            if kind == "person":   # patterns and the face follow the nominal (unrotated) surface
                local = interpolate(r, F - base, person.nominal, sel)
                n_nom = interpolate(r, F - base, person.nominal_normals, sel)
                ao = interpolate(r, F - base, person.ao[:, None], sel)[:, 0]
                alb = paint.albedo(m.labels[vid], local, n_nom, person.extra["J"], person.outfit)
            else:
                ao = np.ones(sel.sum())
                alb = np.tile(scenes.PROP_COLOURS.get(int(m.labels[vid[0]]), (0.5, 0.5, 0.5)), (sel.sum(), 1))
            colour[sel] = paint.shade(alb, n_world, ao)
        base += len(m.vertices)
    h, w = cam.size[1], cam.size[0]
    down = lambda a: a.reshape(h, ss, w, ss, *a.shape[2:]).mean(axis=(1, 3))  # noqa: E731
    return down(colour), down((obj == TARGET).astype(np.float64)), down(hit.astype(np.float64))


def _truth(name, spec, person: Person, cam: Camera, photo, alpha, backdrop, seed) -> dict:
    mask = alpha >= 0.5
    uv, _ = cam.project(np.array([person.joints[n] for n in pb.JOINTS]))
    w, h = cam.size
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    iu = np.clip(uv.astype(int), 0, [w - 1, h - 1])
    visible = inside & mask[iu[:, 1], iu[:, 0]]
    ys, xs = np.nonzero(mask)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else [0, 0, 0, 0]
    m, b = person.mesh, person.body_mesh
    truth = {"mask": mask, "alpha": np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8),
             "vertices": m.vertices.astype(np.float32), "faces": m.faces.astype(np.int32),
             "normals": m.normals.astype(np.float32), "labels": m.labels.astype(np.int8),
             "body_vertices": b.vertices.astype(np.float32), "body_faces": b.faces.astype(np.int32),
             "joints3d": np.array([person.joints[n] for n in pb.JOINTS], np.float32), "joints2d": uv.astype(np.float32),
             "joints_in_frame": inside, "joints_visible": visible, "box": np.array(box, np.int32)}
    meta = {"name": name, "pose": spec[1], "garments": person.extra["garments"], "backdrop": backdrop,
            "options": dict(spec[4]), "seed": seed,
            "height_m": person.extra["height"], "top_m": float(m.vertices[:, 1].max()),
            "yaw_deg": person.transform[1], "joints": list(pb.JOINTS), "person_box": box,
            "person_fraction": float(mask.mean()), "box_height_fraction": (box[3] - box[1]) / h,
            "camera": cam.as_dict(),
            "labels": {"names": pb.LABEL_NAMES, "body": list(pb.BODY_LABELS), "garment": list(pb.GARMENT_LABELS)}}
    return {"photo": photo, "truth": truth, "meta": meta}


def write_case(case: dict, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(case["photo"]).save(folder / "photo.png")
    Image.fromarray(case["truth"]["mask"].astype(np.uint8) * 255).save(folder / "mask.png")
    np.savez_compressed(folder / "truth.npz", **case["truth"])
    (folder / "case.json").write_text(json.dumps(case["meta"], indent=1))


def contact_sheet(cases: list[dict], path: Path, thumb: int = 256) -> None:
    """Thumbnails with the mask outline (red) and the joints (yellow), four per row."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

    cols = 4
    rows = (len(cases) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * thumb, rows * (thumb + 14)), (30, 30, 30))
    for i, c in enumerate(cases):
        img = c["photo"].copy()
        mask = c["truth"]["mask"]
        edge = mask & ~ndimage.binary_erosion(mask, iterations=2)
        img[edge] = [255, 40, 40]
        s = Image.fromarray(img).resize((thumb, thumb), Image.BILINEAR)
        d = ImageDraw.Draw(s)
        k = thumb / img.shape[1]
        for (u, v), ok in zip(c["truth"]["joints2d"], c["truth"]["joints_in_frame"]):
            if ok:
                d.ellipse([u * k - 2, v * k - 2, u * k + 2, v * k + 2], fill=(255, 230, 0))
        x, y = (i % cols) * thumb, (i // cols) * (thumb + 14)
        sheet.paste(s, (x, y + 14))
        ImageDraw.Draw(sheet).text((x + 3, y + 1), c["meta"]["name"], fill=(230, 230, 230))
    sheet.save(path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the cases and contact_sheet.png")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="another seed gives other people (colours, build, "
                    "proportions, height) in the same poses and scenes: a held-out set")
    ap.add_argument("--detect", action="store_true", help="run MediaPipe BlazePose and print a table")
    args = ap.parse_args(argv)
    chosen = [c for c in CASES if not args.only or c[0] in args.only]
    if not chosen:
        raise SystemExit(f"no such case; choose from {[c[0] for c in CASES]}")
    done = []
    for spec in chosen:
        t, cpu = time.perf_counter(), time.process_time()
        case = render_case(spec, args.size, seed=1000 * args.seed + CASES.index(spec) + 1)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        write_case(case, args.out / spec[0])
        done.append(case)
        print(f"{spec[0]:28s} {wall:5.1f} s wall {cpu:5.1f} s CPU  person {case['meta']['person_fraction']:.3f} of the frame")
    contact_sheet(done, args.out / "contact_sheet.png")
    if args.detect:
        from people_pose_check import detection_table
        detection_table(args.out, [c[0] for c in chosen])


if __name__ == "__main__":
    main()
