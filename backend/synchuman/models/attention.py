"""The one attention function every dense network of the project goes through.

softmax(Q K^T * scale) V via torch's scaled_dot_product_attention (its fused/flash or
memory-efficient kernels on CPU and CUDA; no xformers). Tensors are (B, L, H, D), the layout
the TRELLIS blocks and the SyncHuman processors use. A full score matrix is never formed for
large problems: if the math kernel would need more than `max_score_bytes` for the scores, the
queries (and the batch) are processed in chunks, which is exact because softmax is per query.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Upper bound of one SDPA call's (B, H, Lq, Lk) score footprint when chunking is needed.
DEFAULT_MAX_SCORE_BYTES = 512 * 1024 * 1024


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float | None = None,
              max_score_bytes: int | None = DEFAULT_MAX_SCORE_BYTES) -> torch.Tensor:
    """q (B, Lq, H, D), k (B, Lk, H, D), v (B, Lk, H, Dv) -> (B, Lq, H, Dv).

    `scale` defaults to 1/sqrt(D). Inputs of different float dtypes are not mixed: callers pass
    one dtype (fp32 on CPU; fp16/bf16 on CUDA).
    """
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"attention expects (B, L, H, D) tensors, got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, L, D)
    B, H, Lq, _ = qh.shape
    Lk = kh.shape[2]
    score_bytes = B * H * Lq * Lk * 4
    if max_score_bytes is None or score_bytes <= max_score_bytes:
        out = F.scaled_dot_product_attention(qh, kh, vh, scale=scale)
        return out.transpose(1, 2)
    out = torch.empty(B, H, Lq, vh.shape[-1], dtype=vh.dtype, device=vh.device)
    per_item = H * Lk * 4  # bytes of scores per query row of one batch item
    rows = max(1, max_score_bytes // per_item)
    if rows >= Lq:  # whole items fit: chunk over the batch only
        items = max(1, rows // Lq)
        for b0 in range(0, B, items):
            out[b0:b0 + items] = F.scaled_dot_product_attention(
                qh[b0:b0 + items], kh[b0:b0 + items], vh[b0:b0 + items], scale=scale)
    else:
        for b in range(B):
            for s in range(0, Lq, rows):
                out[b:b + 1, :, s:s + rows] = F.scaled_dot_product_attention(
                    qh[b:b + 1, :, s:s + rows], kh[b:b + 1], vh[b:b + 1], scale=scale)
    return out.transpose(1, 2)

