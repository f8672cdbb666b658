"""Scaled dot-product attention and map sizes for the hybrid backbones (CMT, MobileViTv3)."""
import warnings
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def spatial_size(x: torch.Tensor) -> Tuple[int, int]:
    """``(H, W)`` of a ``(..., H, W)`` tensor as Python ints, also while tracing.

    Under ``torch.jit.trace`` sizes are 0-dim tensors, and arithmetic on them (padding amounts,
    resize targets, position-bias grids) leaves size-to-int casts in the graph that coremltools
    cannot convert. Every such decision is taken per input size anyway, so the trace keeps the
    sizes as constants: exported graphs are static in ``H`` and ``W`` wherever a size is read.

    Args:
        x (Tensor): A tensor of rank >= 2.

    Returns:
        tuple[int, int]: ``(H, W)``.
    """
    if not torch.jit.is_tracing():
        return x.shape[-2], x.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        return int(x.shape[-2]), int(x.shape[-1])


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
              bias: Optional[torch.Tensor] = None, fused: Optional[bool] = None) -> torch.Tensor:
    """``softmax(q k^T * scale + bias) v`` on ``(B, heads, N, d)`` tensors.

    Without a bias this is ``F.scaled_dot_product_attention``. With one, the logits are one
    ``torch.baddbmm`` (bias + scaled product in one operator; SDPA's CPU kernel would first build
    the scaled logits, then add the bias and guard the softmax against all ``-inf`` rows, which a
    finite bias never has), then ``softmax`` and ``bmm``.

    Args:
        q (Tensor): Queries ``(B, h, N_q, d)``.
        k (Tensor): Keys ``(B, h, N_kv, d)``.
        v (Tensor): Values ``(B, h, N_kv, d_v)``.
        scale (float): Logit scale (usually ``d ** -0.5``, a build-time constant: read from
            ``q`` it would put shape arithmetic into traces).
        bias (Tensor, optional): Finite additive logit bias broadcastable to
            ``(B, h, N_q, N_kv)`` (e.g. CMT's relative position bias). Defaults to None.
        fused (bool, optional): Use the fused operators above. None (default) uses them except
            while tracing, where the explicit matmuls keep FLOP counters and exporters on plain
            ops.

    Returns:
        Tensor: ``(B, h, N_q, d_v)``.
    """
    if fused is None:
        fused = not torch.jit.is_tracing()
    if bias is not None:
        bias = bias.to(q.dtype)
    if fused and bias is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    if fused:
        batch, heads, num_query, _ = q.shape
        bias = bias.expand(batch, heads, num_query, k.shape[-2]).flatten(0, 1)
        logits = torch.baddbmm(bias, q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2),
                               alpha=scale)
        out = torch.bmm(logits.softmax(dim=-1), v.flatten(0, 1))
        return out.view(batch, heads, num_query, -1)
    logits = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1) @ v
