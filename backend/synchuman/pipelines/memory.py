"""Where the networks live and in which precision: the one memory and precision policy of both
stages (the engine only chooses it from the settings).

- precision: fp16 by default on CUDA (bf16 / fp32 on request); fp32 on the CPU, or bf16 on request
  where the CPU has native bf16 arithmetic (AVX512-BF16 / AMX: half the memory and ~2.4x the fp32
  matmul rate, measured by the full-size rehearsal); fp16 has no fast CPU path. The fp32 islands inside a network
  (the SS decoder's input/output layers and norms, every norm computing in float32) are declared
  per network: `models.registry.ModelSpec.half_precision` and the norm layers themselves.
- memory modes: ``full`` keeps every network on the device between jobs; ``balanced`` frees the
  stage-1 networks before stage 2 loads (and reloads them for the next job); ``low`` additionally
  keeps every network on the CPU and moves each to the device only while it runs (sequential
  offload) and decodes the VAE tiled. On the CPU, ``low`` is ``balanced``: there is nothing to
  offload to.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

log = logging.getLogger("synchuman.memory")

PRECISIONS = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def cpu_supports_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@dataclass(frozen=True)
class MemoryPolicy:
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    offload: bool = False                # sequential offload: a network is on `device` only while it runs
    keep_stage1_resident: bool = True    # keep the stage-1 networks loaded while stage 2 runs
    vae_tiled: bool = False

    @classmethod
    def choose(cls, device: str | torch.device = "cpu", precision: str = "auto",
               memory_mode: str = "balanced") -> "MemoryPolicy":
        device = torch.device(device)
        if device.type == "cpu":
            dtype = torch.bfloat16 if precision == "bf16" and cpu_supports_bf16() else torch.float32
            if precision in ("fp16", "bf16") and dtype == torch.float32:
                log.warning("precision %s is not used on this CPU; running in fp32", precision)
        else:
            dtype = PRECISIONS[precision]
        low = memory_mode == "low" and device.type != "cpu"
        return cls(device, dtype, offload=low, keep_stage1_resident=memory_mode == "full", vae_tiled=low)

    @property
    def load_device(self) -> torch.device:
        """Where networks are loaded (and rest between uses)."""
        return torch.device("cpu") if self.offload else self.device

    @contextlib.contextmanager
    def on_device(self, module):
        """`module` on the compute device for the duration of the block (with offload: moved there and
        back to the CPU afterwards, freeing the device's cache)."""
        if self.offload and module is not None:
            module.to(self.device)
        try:
            yield module
        finally:
            if self.offload and module is not None:
                module.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
