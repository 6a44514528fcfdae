"""The one memory and precision policy of both stages (`pipelines.memory.MemoryPolicy`)."""

from __future__ import annotations

import pytest
import torch

from synchuman.pipelines.memory import MemoryPolicy, cpu_supports_bf16


@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16", "bf16"])
@pytest.mark.parametrize("mode", ["full", "balanced", "low"])
def test_the_cpu_runs_fp32_or_native_bf16_and_never_offloads(precision, mode):
    p = MemoryPolicy.choose("cpu", precision, mode)
    bf16 = precision == "bf16" and cpu_supports_bf16()   # bf16 only on request, and only where it is fast
    assert p.dtype == (torch.bfloat16 if bf16 else torch.float32) and not p.offload and not p.vae_tiled
    assert p.load_device == torch.device("cpu")
    assert p.keep_stage1_resident == (mode == "full")


@pytest.mark.parametrize("precision,dtype", [("auto", torch.float16), ("fp16", torch.float16),
                                             ("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_cuda_precision_and_modes(precision, dtype):
    low = MemoryPolicy.choose("cuda", precision, "low")
    assert low.dtype == dtype and low.offload and low.vae_tiled and not low.keep_stage1_resident
    assert low.load_device == torch.device("cpu") and low.device == torch.device("cuda")
    full = MemoryPolicy.choose("cuda", precision, "full")
    assert not full.offload and full.keep_stage1_resident and full.load_device == torch.device("cuda")


class _Moves(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.moves = []

    def to(self, device):
        self.moves.append(str(device))
        return self


def test_offload_moves_a_network_only_for_its_use():
    net = _Moves()
    policy = MemoryPolicy(torch.device("cuda"), torch.float16, offload=True)
    with pytest.raises(RuntimeError):
        with policy.on_device(net):
            assert net.moves == ["cuda"]
            raise RuntimeError("a failing step still sends the network back")
    assert net.moves == ["cuda", "cpu"]
    resident = _Moves()
    with MemoryPolicy(torch.device("cuda"), torch.float16).on_device(resident):
        pass
    assert resident.moves == []
