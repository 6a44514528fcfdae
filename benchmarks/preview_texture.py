"""The preview engine's texturing (`texture_mesh`) on the clothed people, with the fitted body as the
stand-in for the dressed mesh (issue 15, part B).

    .venv/bin/python benchmarks/preview_texture.py [--seed 0] [--only CASE ...] [--save DIR]

Per case (benchmarks/clothed_people.py, 1024² photos): the true cut-out's alpha, MediaPipe's 33
landmarks on it, `body.fit.BodyFitter` -> the fitted body projected into photo pixels with its
per-vertex body segments (bodyparts.py) -> `texture_mesh`; and, side by side, the whole engine
(`build_preview` on the cut-out: the dressed body with its parts, or the inflated silhouette when no
body is fitted; the row says which). --save writes both meshes' front/side/back views (the engine's
under CASE/engine/).
- front PSNR (dB): the textured mesh rendered from the front against the photo, where both cover;
- back error: the mesh seen from behind through the photo's projection, against the true dressed
  surface seen the same way, its true colours lit as the photo lit the front (the person turned
  around); mean absolute RGB error (0-255) over the true labels, and for the head/hair, torso,
  arms and legs separately;
- skin on hair: the share of the true hair's pixels (seen from behind) whose colour is nearer the
  person's skin colour than their hair colour (both lit flat from the front; the face copied to
  the back would score high);
- hidden faces: faces seen from neither side (a solid part colour);
- tex s: the time of `texture_mesh` alone (the engine's from its notes: `texture_seconds`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import clothed_people as cp  # noqa: E402
import people_body as pb  # noqa: E402
import people_paint as paint  # noqa: E402

GROUPS = {"head/hair": (pb.HEAD, pb.HAIR, pb.HOOD), "torso": (pb.NECK, pb.TORSO, pb.PELVIS, pb.COAT, pb.BACKPACK, pb.STRAP),
          "arms": (pb.UPPER_ARM, pb.FOREARM, pb.HAND), "legs": (pb.THIGH, pb.SHIN, pb.FOOT, pb.SKIRT, pb.TROUSERS)}


def remake_person(spec, seed: int):
    """The person of `cp.render_case(spec, seed=seed)` (the same draws from the same generator)."""
    name, pose, garments, backdrop, opt = spec
    rng = np.random.default_rng(seed)
    height = rng.uniform(1.6, 1.85)
    female = opt.get("female", False)
    yaw = opt.get("yaw", rng.uniform(-8, 8))
    return cp.make_person(pose, garments, seed, height=height, female=female, yaw_deg=yaw, step=0.008, bare_body=False)


def camera_of(meta: dict) -> cp.Camera:
    c = meta["camera"]
    return cp.Camera(np.array(c["rotation_world_to_camera"]), np.array(c["eye"]), c["focal_px"], tuple(c["centre_px"]),
                     tuple(c["size"]), c["orthographic"])


def truth_from_behind(person, cam, size: tuple[int, int]):
    """The true dressed surface seen from behind through the photo's projection: colour (H, W, 3)
    0-255 (lit as the front was: normals mirrored front to back), label (H, W) (0 = empty)."""
    from synchuman.engines.preview.raster import rasterize

    m = person.mesh
    uv, depth = cam.project(m.vertices)
    tri, bary = rasterize(uv - 0.5, depth, m.faces, size[1], size[0], cull_back=False)
    alb = paint.albedo(m.labels, person.nominal, person.nominal_normals, person.extra["J"], person.outfit)
    n = person.nominal_normals * np.array([1.0, 1.0, -1.0])
    lit = paint.shade(alb, n, person.ao) * 255
    hit = tri >= 0
    colour = np.zeros(size[::-1] + (3,))
    colour[hit] = (lit[m.faces[tri[hit]]] * bary[hit][..., None]).sum(1)
    label = np.zeros(size[::-1], np.int64)
    label[hit] = m.labels[m.faces[tri[hit], 0]]
    return colour, label


def ours_from_behind(points_px, faces, uv, texture, size: tuple[int, int]):
    from synchuman.engines.preview.raster import rasterize, shade_textured

    tri, bary = rasterize(points_px[:, :2], -points_px[:, 2], faces, size[1], size[0], cull_back=False)
    return shade_textured(tri, bary, faces, uv, texture).astype(float), tri >= 0


def scores(case, person, points_px, faces, uv, texture) -> dict:
    from synchuman.engines.preview.views import render_view

    photo, mask = case["photo"], case["truth"]["mask"]
    H, W = mask.shape
    front, cover = render_view(points_px, faces, uv, texture, "front", photo_size=(W, H))
    sel = cover & mask
    mse = ((front.astype(float) - photo.astype(float)) ** 2)[sel].mean()
    truth, label = truth_from_behind(person, camera_of(case["meta"]), (W, H))
    ours, ours_cover = ours_from_behind(points_px, faces, uv, texture, (W, H))
    both = ours_cover & (label > 0)
    err = np.abs(ours - truth).mean(-1)
    out = {"psnr": float(10 * np.log10(255 ** 2 / max(mse, 1e-9))), "back_err": float(err[both].mean())}
    for g, labels in GROUPS.items():
        s = both & np.isin(label, labels)
        out[g] = float(err[s].mean()) if s.sum() > 50 else float("nan")
    hair = both & (label == pb.HAIR)
    lit = lambda c: paint.shade(np.asarray(c)[None], np.array([[0.0, 0.0, 1.0]]), np.ones(1))[0] * 255  # noqa: E731
    skin, hair_colour = lit(person.outfit["skin"]), lit(person.outfit["hair"])
    if hair.sum() > 50:
        near_skin = np.linalg.norm(ours[hair] - skin, axis=1) < np.linalg.norm(ours[hair] - hair_colour, axis=1)
        out["skin_on_hair"] = float(near_skin.mean())
    else:
        out["skin_on_hair"] = float("nan")
    out["views"] = front
    return out


def body_stand_in(model, fitter, photo, alpha):
    """The fitted body as a stand-in for the dressed mesh: (V, 3) photo pixels, faces, per-vertex parts."""
    from synchuman.body.fit import PoseObservation
    from synchuman.engines.preview.bodyparts import body_segments
    from synchuman.foreground import cut_person

    person = cut_person(np.dstack([photo, alpha]))
    if person.pose is None:
        return None
    fit = fitter.fit(PoseObservation.from_person_pose(person.pose, alpha >= 128))
    verts_cam, px = fitter.project(fit)
    faces = model.faces.numpy()
    parts, names = body_segments(model.skin_weights.numpy(), model.bone_labels, faces, model.face_parts.numpy(),
                                 model.part_labels)
    return np.column_stack([px, -verts_cam[:, 2] * fit.scale]), faces, parts, names


def run_case(spec, seed: int, model, fitter, save: Path | None) -> dict:
    from synchuman.engines import ReconstructSettings
    from synchuman.engines.preview import build_preview
    from synchuman.engines.preview.texture import texture_mesh
    from synchuman.images import Photo

    case = cp.render_case(spec, 1024, seed=seed)
    person = remake_person(spec, seed)
    photo, alpha = case["photo"], case["truth"]["alpha"]
    rows = {}
    stand_in = body_stand_in(model, fitter, photo, alpha)
    if stand_in is not None:
        verts_px, faces, parts, names = stand_in
        t = time.perf_counter()
        tm = texture_mesh(photo, alpha, verts_px, faces, parts, names, None, 1024)
        seconds = time.perf_counter() - t
        rows["body parts"] = {**scores(case, person, verts_px[tm.vertex_index], tm.faces, tm.uv, tm.texture),
                              "s": seconds, "hidden": tm.notes["texture_charts"]["hidden_faces"] / len(faces)}
        if save:
            _save(save / spec[0], verts_px[tm.vertex_index], tm, rows["body parts"]["views"])
    photo_rgba = Photo(rgba=np.dstack([photo, alpha]), has_alpha=True, path=None, sha256="", format="PNG",
                       original_size=(photo.shape[1], photo.shape[0]))
    settings = ReconstructSettings(engine="preview", rig=False)   # the rig would share the texture's time
    built = build_preview(photo_rgba, settings, lambda *a: None)
    pts = built.photo_coords(built.vertices)
    charts = built.notes["texture_charts"]
    rows[f"engine ({built.notes['method']})"] = {**scores(case, person, pts, built.faces, built.uv, built.texture),
                                                 "s": built.notes["texture_seconds"],
                                                 "hidden": charts["hidden_faces"] / len(built.closed_faces)}
    if save:
        folder = save / spec[0] / "engine"
        folder.mkdir(parents=True, exist_ok=True)
        for view in ("front", "side", "back"):
            built.write_view(folder / f"{view}.png", view)
    return {"case": spec[0], "rows": rows}


def _save(folder: Path, points_px, tm, front) -> None:
    from synchuman.engines.preview.views import render_view
    from synchuman.images import write_png

    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "front.png", front)
    for view in ("side", "back"):
        write_png(folder / f"{view}.png", render_view(points_px, tm.faces, tm.uv, tm.texture, view)[0])
    write_png(folder / "texture.png", tm.texture)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--save", type=Path, help="write each case's front/side/back views and texture here")
    args = ap.parse_args()

    from synchuman.body import load_body_model
    from synchuman.body.fit import BodyFitter

    model = load_body_model()
    fitter = BodyFitter(model)
    specs = [c for c in cp.CASES if not args.only or c[0] in args.only]
    load = os.getloadavg()
    results = []
    for spec in specs:
        results.append(run_case(spec, 1000 * args.seed + cp.CASES.index(spec) + 1, model, fitter, args.save))
        print(f"  done: {spec[0]}", file=sys.stderr, flush=True)
    print(f"texture_mesh on the clothed people (1024² photos, true cut-outs), seed {args.seed}; "
          f"load {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    groups = list(GROUPS)
    print("| case | mesh | front PSNR dB | back err | " + " | ".join(groups) + " | skin on hair | hidden faces | tex s |")
    print("|---|---|---|---|" + "---|" * len(groups) + "---|---|---|")
    for r in results:
        for mesh, row in r["rows"].items():
            cells = " | ".join(f"{row[g]:.0f}" if np.isfinite(row[g]) else "–" for g in groups)
            sk = f"{100 * row['skin_on_hair']:.0f} %" if np.isfinite(row["skin_on_hair"]) else "–"
            print(f"| {r['case']} | {mesh} | {row['psnr']:.1f} | {row['back_err']:.1f} | {cells} | {sk} | "
                  f"{100 * row['hidden']:.1f} % | {row['s']:.2f} |")
    for mesh in dict.fromkeys(m for r in results for m in r["rows"]):
        rows = [r["rows"][mesh] for r in results if mesh in r["rows"]]
        if not rows:
            continue
        col = lambda k: np.array([x[k] for x in rows])  # noqa: E731
        hair = col("skin_on_hair")[np.isfinite(col("skin_on_hair"))]
        skin = f"median {100 * np.median(hair):.0f} % (max {100 * hair.max():.0f} %)" if len(hair) else "–"
        print(f"\n{mesh}: {len(rows)} cases; front PSNR median {np.median(col('psnr')):.1f} dB (min "
              f"{col('psnr').min():.1f}); back error median {np.median(col('back_err')):.1f}; skin on hair {skin}; "
              f"texture time median {np.median(col('s')):.2f} s (max {col('s').max():.2f})")


if __name__ == "__main__":
    main()
