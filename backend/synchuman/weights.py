"""Where the SyncHuman weights live, whether they are complete, and how to get them.

One weights folder holds everything the `synchuman` engine loads:

```
<weights>/ckpts/OneStage/...          the released stage-1 folder (HuggingFace xishushu/SyncHuman)
<weights>/ckpts/SecondStage/...       the released stage-2 folder
<weights>/dinov2/dinov2_vitl14_reg4_pretrain.pth   DINOv2 ViT-L/14 with registers (Meta's torch-hub file)
<weights>/prompt_embeds/fixed_prompt_embeds_7view.safetensors   the fixed prompt embeddings
<weights>/background/u2net.onnx       the background-removal model (rembg's U²-Net) for photos without alpha
```

The background-removal model is optional: without it a photo without alpha gets the classical
foreground step (cut-outs never need it); `weights verify` reports it either way.

The folder is chosen by, in order: the `--weights DIR` option, the SYNCHUMAN_WEIGHTS environment
variable, and the default folder in the user's data directory. Downloads resume, report progress,
can be cancelled, and are checked against the hub's SHA-256 where the hub publishes one. Nothing is
unpickled: `.pt/.pth` files are read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import SyncHumanError
from .jobs import CancelToken

log = logging.getLogger("synchuman.weights")

HF_REPO = "xishushu/SyncHuman"
ENV_VAR = "SYNCHUMAN_WEIGHTS"
REFERENCE_COMMIT = "1b540b7b513d49375f11db2f720164d684dd3f49"  # IGL-HKUST/SyncHuman, source of the prompt embeds

DINOV2_FILE = "dinov2/dinov2_vitl14_reg4_pretrain.pth"
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth"
PROMPT_EMBEDS_FILE = "prompt_embeds/fixed_prompt_embeds_7view.safetensors"
BACKGROUND_FILE = "background/u2net.onnx"
BACKGROUND_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"
BACKGROUND_MD5 = "60024c5c889badc19c04ad937298a77b"  # the checksum rembg itself checks
PROMPT_EMBEDS_URLS = {
    name: f"https://raw.githubusercontent.com/IGL-HKUST/SyncHuman/{REFERENCE_COMMIT}/SyncHuman/data/"
          f"fixed_prompt_embeds_7view/{name}_embeds.pt" for name in ("normal", "clr")}

# Files whose absence makes the synchuman engine unusable (weights named as the release names them).
REQUIRED_FILES = (
    "ckpts/OneStage/pipeline_config.json",
    "ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion/config.json",
    "ckpts/OneStage/SyncHuman_2D3DCrossSpaceDiffusion/diffusion_pytorch_model.safetensors",
    "ckpts/OneStage/vae/config.json",
    "ckpts/OneStage/vae/diffusion_pytorch_model.safetensors",
    "ckpts/OneStage/image_encoder/config.json",
    "ckpts/OneStage/image_encoder/model.safetensors",
    "ckpts/OneStage/feature_extractor/preprocessor_config.json",
    "ckpts/OneStage/sparse_structure_decoder/config.json",
    "ckpts/OneStage/sparse_structure_decoder/model.safetensors",
    "ckpts/SecondStage/pipeline.json",
    "ckpts/SecondStage/ckpts/slat_flow/config.json",
    "ckpts/SecondStage/ckpts/slat_flow/model.safetensors",
    "ckpts/SecondStage/ckpts/decoder_GS/config.json",
    "ckpts/SecondStage/ckpts/decoder_GS/model.safetensors",
    "ckpts/SecondStage/ckpts/decoder_Mesh/config.json",
    "ckpts/SecondStage/ckpts/decoder_Mesh/model.safetensors",
    PROMPT_EMBEDS_FILE,
)
# DINOv2 ViT-L/14 with registers: either Meta's torch-hub file or a safetensors copy of it.
DINOV2_CANDIDATES = (DINOV2_FILE, "dinov2/model.safetensors")
# Released files the engine never loads (the text encoder is unused by the method).
SKIPPED_HUB_FILES = ("ckpts/OneStage/text_encoder/model.safetensors",)


def default_weights_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("synchuman", appauthor=False)) / "weights"


def resolve_weights_dir(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(folder, where the choice came from)."""
    if explicit:
        return Path(explicit).expanduser().resolve(), "--weights"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve(), ENV_VAR
    return default_weights_dir(), "default"


def missing_files(root: Path) -> list[str]:
    """Relative paths of required files absent from `root` (empty when complete)."""
    missing = [rel for rel in REQUIRED_FILES if not (root / rel).is_file()]
    if not any((root / c).is_file() for c in DINOV2_CANDIDATES):
        missing.append(" or ".join(DINOV2_CANDIDATES))
    return missing


def weights_status(explicit: str | os.PathLike | None = None) -> dict:
    root, source = resolve_weights_dir(explicit)
    missing = missing_files(root)
    return {"dir": str(root), "source": source, "present": not missing, "missing": missing,
            "background_removal": (root / BACKGROUND_FILE).is_file(),
            "fix": "" if not missing else f"synchuman weights download --dir {root}"}


def require_weights(explicit: str | os.PathLike | None = None) -> Path:
    """The weights folder, or a `weights.missing` error naming what is absent and the fixing command."""
    status = weights_status(explicit)
    if status["missing"]:
        shown = ", ".join(status["missing"][:4]) + (" …" if len(status["missing"]) > 4 else "")
        raise SyncHumanError("weights.missing", f"The weights folder {status['dir']} lacks {len(status['missing'])} "
                             f"file(s): {shown}", f"Run: {status['fix']}", {"missing": status["missing"]})
    return Path(status["dir"])


# -- downloading -------------------------------------------------------------------------------

@dataclass
class RemoteFile:
    url: str
    target: str                 # relative path in the weights folder
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None      # for sources that publish only an MD5 (rembg's release)


DownloadProgressFn = Callable[[str, int, int | None], None]   # (relative path, bytes done, bytes total)
CHUNK = 1 << 20
TIMEOUT_S = 30


def _offline_error(what: str, exc: BaseException) -> SyncHumanError:
    return SyncHumanError(
        "weights.offline", f"Cannot reach {what}: {exc}",
        "Connect this machine to the internet and run the download again (it resumes), or copy a complete "
        "weights folder from another machine and point --weights / SYNCHUMAN_WEIGHTS at it.")


def download_file(remote: RemoteFile, root: Path, progress: DownloadProgressFn, cancel: CancelToken) -> Path:
    """Downloads one file into `root`, resuming a `.part` file, verifying the SHA-256 when known."""
    target = root / remote.target
    if target.is_file() and (remote.size is None or target.stat().st_size == remote.size):
        if _matches(target, remote):
            progress(remote.target, target.stat().st_size, target.stat().st_size)
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.url, headers={"User-Agent": "synchuman-weights"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - fixed https sources
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already whole
            response = None
        else:
            raise SyncHumanError("weights.download_failed", f"{remote.url} answered HTTP {exc.code}",
                                 "Try again later; if it persists, download the file by hand into "
                                 f"{target}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _offline_error(remote.url, exc) from exc
    if response is not None:
        with response:
            resumed = response.status == 206
            total = remote.size
            length = response.headers.get("Content-Length")
            if total is None and length is not None:
                total = int(length) + (have if resumed else 0)
            mode = "ab" if resumed else "wb"
            done = have if resumed else 0
            with open(part, mode) as out:
                while True:
                    cancel.raise_if_set()  # the .part file stays for the next resume
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    progress(remote.target, done, total)
    if remote.size is not None and part.stat().st_size != remote.size:
        raise SyncHumanError("weights.download_failed", f"{remote.target}: got {part.stat().st_size} bytes, "
                             f"expected {remote.size}", "Run the download again; it resumes.")
    if not _matches(part, remote):
        part.unlink()
        raise SyncHumanError("weights.corrupt", f"{remote.target} does not match its published checksum.",
                             "The damaged file was removed; run the download again.")
    part.replace(target)
    return target


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _matches(path: Path, remote: RemoteFile) -> bool:
    """True when every checksum the source publishes matches the file (no checksum: True)."""
    return ((remote.sha256 is None or file_digest(path) == remote.sha256) and
            (remote.md5 is None or file_digest(path, "md5") == remote.md5))


def hub_files() -> list[RemoteFile]:
    """The released ckpts/ files with sizes and SHA-256 from the hub (refuses clearly when offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise _offline_error("huggingface.co", RuntimeError("HF_HUB_OFFLINE is set"))
    try:
        from huggingface_hub import HfApi, hf_hub_url

        info = HfApi().model_info(HF_REPO, files_metadata=True, timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - every hub failure here means "cannot reach it"
        raise _offline_error(f"huggingface.co/{HF_REPO}", exc) from exc
    files = []
    for sibling in info.siblings or []:
        name = sibling.rfilename
        if not name.startswith("ckpts/") or name in SKIPPED_HUB_FILES:
            continue
        lfs = getattr(sibling, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs else None
        files.append(RemoteFile(hf_hub_url(HF_REPO, name), name, sibling.size, sha))
    return files


def download_weights(root: Path, progress: DownloadProgressFn, cancel: CancelToken,
                     sources: list[RemoteFile] | None = None) -> Path:
    """Fetches every missing piece into `root` (idempotent) and converts the prompt embeddings."""
    root.mkdir(parents=True, exist_ok=True)
    remote = sources if sources is not None else [
        *hub_files(),
        RemoteFile(DINOV2_URL, DINOV2_FILE),
        RemoteFile(BACKGROUND_URL, BACKGROUND_FILE, md5=BACKGROUND_MD5),
        *(RemoteFile(url, f"prompt_embeds/{name}_embeds.pt") for name, url in PROMPT_EMBEDS_URLS.items()),
    ]
    for item in remote:
        download_file(item, root, progress, cancel)
    convert_downloaded_prompt_embeds(root)
    return root


def convert_downloaded_prompt_embeds(root: Path) -> Path | None:
    """Turns the official torch-saved prompt embeddings into safetensors (read with weights_only)."""
    target = root / PROMPT_EMBEDS_FILE
    normal, clr = (root / f"prompt_embeds/{name}_embeds.pt" for name in ("normal", "clr"))
    if target.is_file() or not (normal.is_file() and clr.is_file()):
        return target if target.is_file() else None
    from .models.conditioning import convert_prompt_embeds as convert

    return convert(normal, clr, target)


# -- verifying ---------------------------------------------------------------------------------

def verify_weights(root: Path) -> list[dict]:
    """One row per component: {component, path, status (ok | missing | corrupt | mismatch), detail, optional}.

    Every component's configuration is read and its network built on the meta device; the file's
    keys and shapes are checked against it (headers only: nothing is loaded or run)."""
    from .errors import SyncHumanError

    one = root / "ckpts" / "OneStage"
    two = root / "ckpts" / "SecondStage"

    def stage1(loader_name: str, subdir: str):
        def check():
            from .models import conditioning, registry

            loaders = {"registry": registry.load_model, "vae": conditioning.load_vae,
                       "clip": conditioning.load_clip_image_encoder}
            loaders[loader_name](one / subdir, "meta")
        return one / subdir, check

    def stage2(subdir: str):
        def check():
            from .models.registry import load_model

            load_model(two / "ckpts" / subdir, "meta")
        return two / "ckpts" / subdir, check

    def dinov2():
        path = next((root / c for c in DINOV2_CANDIDATES if (root / c).is_file()), root / DINOV2_CANDIDATES[0])

        def check():
            from .models.dinov2 import DinoV2, DinoV2Config, read_dinov2_state_dict
            from .models.loading import build_on_meta, check_keys

            sd = read_dinov2_state_dict(path)
            model = build_on_meta(lambda: DinoV2(DinoV2Config.from_state_dict(sd)))
            check_keys({k: tuple(v.shape) for k, v in model.state_dict().items()},
                       {k: tuple(v.shape) for k, v in sd.items()}, path)
        return path, check

    def prompts():
        path = root / PROMPT_EMBEDS_FILE

        def check():
            from .models.conditioning import load_prompt_embeds

            load_prompt_embeds(path)
        return path, check

    def background():
        path = root / BACKGROUND_FILE

        def check():
            from .background_removal import U2NetBackgroundRemover

            U2NetBackgroundRemover.from_file(path)
        return path, check

    def pipeline_configs():
        def check():
            from .models.loading import read_json

            for path in (one / "pipeline_config.json", two / "pipeline.json", one / "feature_extractor" /
                         "preprocessor_config.json"):
                read_json(path)
        return one, check

    components = {
        "pipeline configs": pipeline_configs(),
        "stage-1 joint model": stage1("registry", "SyncHuman_2D3DCrossSpaceDiffusion"),
        "VAE": stage1("vae", "vae"),
        "CLIP image encoder": stage1("clip", "image_encoder"),
        "sparse-structure decoder": stage1("registry", "sparse_structure_decoder"),
        "structured-latent flow": stage2("slat_flow"),
        "Gaussian decoder": stage2("decoder_GS"),
        "mesh decoder": stage2("decoder_Mesh"),
        "DINOv2 ViT-L/14-reg": dinov2(),
        "prompt embeddings": prompts(),
        "background removal (optional)": background(),
    }
    rows = []
    for name, (path, check) in components.items():
        row = {"component": name, "path": str(path), "status": "ok", "detail": "", "optional": "optional" in name}
        try:
            check()
        except SyncHumanError as exc:
            row["status"] = {"weights.missing": "missing", "weights.corrupt": "corrupt"}.get(exc.code, "mismatch")
            row["detail"] = exc.message
            if row["optional"] and row["status"] == "missing":
                row["detail"] = "not present: photos without alpha use the shared person detector"
        rows.append(row)
    return rows


def verified(rows: list[dict]) -> bool:
    """Every component usable: ok, or optional and absent."""
    return all(r["status"] == "ok" or (r["optional"] and r["status"] == "missing") for r in rows)
