"""Tensor helpers for verification: output flattening, relative error, random BN statistics."""
from typing import Any, List

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def flatten_tensors(outputs: Any) -> List[torch.Tensor]:
    """Every tensor in a (nested) tuple / list / dict of outputs, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in flatten_tensors(item)]
    return []


def relative_error(actual: Any, expected: Any) -> float:
    """``||actual - expected|| / ||expected||`` in float64 over all tensors of the outputs.

    Both sides may be tensors, arrays or nested tuples / lists / dicts of them; the tensors are
    compared pairwise and concatenated. Returns ``inf`` when the number of tensors or any of
    their shapes differ.

    Args:
        actual: The output under test.
        expected: The reference output.

    Returns:
        float: The relative error (0 for two equal all-zero outputs).
    """
    if not isinstance(actual, (torch.Tensor, list, tuple, dict)):
        actual = torch.as_tensor(actual)
    if not isinstance(expected, (torch.Tensor, list, tuple, dict)):
        expected = torch.as_tensor(expected)
    actual, expected = flatten_tensors(actual), flatten_tensors(expected)
    if len(actual) != len(expected) or not actual:
        return float('inf')
    if any(a.shape != e.shape for a, e in zip(actual, expected)):
        return float('inf')
    a = torch.cat([t.detach().cpu().double().reshape(-1) for t in actual])
    e = torch.cat([t.detach().cpu().double().reshape(-1) for t in expected])
    return ((a - e).norm() / e.norm().clamp_min(1e-30)).item()


@torch.no_grad()
def randomize_bn_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random running statistics and affine parameters, in place.

    With default statistics (mean 0, var 1, gamma 1, beta 0) a wrong fusion can still pass and
    timings profit from identity layers, so every fuse check and benchmark randomizes them first.

    Args:
        model (nn.Module): The model.
        seed (int): Seed of the generator. Defaults to 0.

    Returns:
        nn.Module: ``model``.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.running_mean is not None:
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            if module.affine:
                module.weight.copy_(torch.randn(shape, generator=generator) * 0.5 + 1)
                module.bias.copy_(torch.randn(shape, generator=generator) * 0.5)
    return model
