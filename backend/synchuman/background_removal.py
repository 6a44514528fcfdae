"""The background-removal model the reference uses for photos without alpha: U²-Net (rembg's
`u2net.onnx`), run with onnxruntime on the CPU.

    remover = U2NetBackgroundRemover.from_file(weights / BACKGROUND_FILE)
    alpha = remover(rgb)                     # uint8 (H, W), 0 = background, 255 = person

The steps follow TRELLIS's `preprocess_image` + rembg's `u2net` session, so a plain photo gets the
alpha the reference computes:
1. downscale so the longer side is at most 1024 (Lanczos), as TRELLIS does before rembg;
2. resize to 320x320 (Lanczos), divide by the image's maximum value, ImageNet mean/std, NCHW float32;
3. the first output's channel 0, min-max normalised to [0, 1], truncated to uint8, resized back (Lanczos);
then, our additions: back to the photo's full size, and the cut-out clean-up every alpha gets
(`foreground.clean_alpha`: specks removed, pin-holes filled, "no person" checks with a hint).

The reference also multiplies the RGB by the mask (rembg's naive cut-out) before TRELLIS multiplies
it by alpha again; we keep straight RGB + alpha for both branches (the multiview branch needs it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import IMAGENET_MEAN, IMAGENET_STD
from .errors import SyncHumanError

MAX_SIDE = 1024
INPUT_SIZE = 320


def _corrupt(path: Path, why: str) -> SyncHumanError:
    return SyncHumanError("weights.corrupt", f"{path} is not a usable background-removal model: {why}",
                          "Delete it and run `synchuman weights download` again (photos with a transparent "
                          "background do not need it).")


def u2net_input(rgb: np.ndarray) -> np.ndarray:
    """(1, 3, 320, 320) float32 network input of a uint8 RGB image (rembg's normalisation)."""
    from PIL import Image

    small = np.asarray(Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.LANCZOS),
                       dtype=np.float64)
    small = small / max(float(small.max()), 1e-6)
    x = (small - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def mask_from_output(prediction: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W) mask from the network's first output (1, 1, 320, 320); size is (width, height)."""
    from PIL import Image

    pred = prediction[:, 0, :, :].astype(np.float64)
    lo, hi = float(pred.min()), float(pred.max())
    pred = np.squeeze((pred - lo) / (hi - lo if hi > lo else 1.0))
    mask = Image.fromarray((pred * 255).astype(np.uint8), mode="L")
    return np.asarray(mask.resize(size, Image.Resampling.LANCZOS))


class U2NetBackgroundRemover:
    """A loaded U²-Net ONNX session; call it with a uint8 RGB image to get the person's alpha."""

    source = "u2net"   # recorded as the alpha's source in job.json

    def __init__(self, session, path: Path):
        self.session = session
        self.path = path
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path: str | Path) -> "U2NetBackgroundRemover":
        path = Path(path)
        if not path.is_file():
            raise SyncHumanError("weights.missing", f"The background-removal model {path} is missing.",
                                 "Run `synchuman weights download`, or supply photos with a transparent background.")
        try:
            import onnxruntime
        except ImportError as exc:
            raise SyncHumanError("dependency.missing", "onnxruntime is not installed; it runs the background-"
                                 "removal model.", "pip install onnxruntime (python build.py setup does).") from exc
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for damaged files
            raise _corrupt(path, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] not in (3, "3") or any(
                isinstance(s, int) and s != INPUT_SIZE for s in shape[2:]):
            raise _corrupt(path, f"its input has shape {shape}, expected (1, 3, {INPUT_SIZE}, {INPUT_SIZE})")
        return cls(session, path)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The raw rembg mask (uint8) at the photo's size, before any clean-up."""
        from PIL import Image

        rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        h, w = rgb.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        work = rgb if scale == 1.0 else np.asarray(
            Image.fromarray(rgb).resize((int(w * scale), int(h * scale)), Image.Resampling.LANCZOS))
        prediction = self.session.run(None, {self.input_name: u2net_input(work)})[0]
        mask = mask_from_output(np.asarray(prediction), (work.shape[1], work.shape[0]))
        if scale != 1.0:
            mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.LANCZOS))
        return mask

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from .foreground import clean_alpha

        return clean_alpha(self.predict(rgb), "the background-removal model's mask")
