"""Helpers shared by the model tests."""
import json
import os.path as osp

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``||actual - expected|| / ||expected||``."""
    return ((actual - expected).norm() / expected.norm()).item()


def randomize_bn_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random affine parameters and running statistics.

    With default statistics (mean 0, var 1, gamma 1, beta 0) a wrong fusion can still pass, so
    every fuse check randomizes them first.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            if module.affine:
                module.weight.data.copy_(torch.randn(shape, generator=generator) * 0.5 + 1)
                module.bias.data.copy_(torch.randn(shape, generator=generator) * 0.5)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_norm_state(modules, train_state: bool) -> bool:
    """Whether every BatchNorm in ``modules`` has ``training == train_state``."""
    return all(m.training == train_state for m in modules if isinstance(m, _BatchNorm))


def fused_and_stock_outputs(model: nn.Module, x: torch.Tensor):
    """``(fused, stock, fused_calls)``: ``model(x)`` under ``torch.no_grad()`` (where the
    deploy form's ``FusedConvAct`` modules take the oneDNN path), ``model(x)`` with grad mode
    on (the stock ops), and how many ``FusedConvAct`` calls took the oneDNN path."""
    from mmmobile.models.layers.fused import FusedConvAct
    calls = []
    original = FusedConvAct._onednn_forward

    def counted(self, *args):
        calls.append(self)
        return original(self, *args)

    FusedConvAct._onednn_forward = counted
    try:
        with torch.no_grad():
            fused = model(x)
    finally:
        FusedConvAct._onednn_forward = original
    with torch.enable_grad():
        stock = model(x)
    return fused, stock, len(calls)


def official_fixture(folder: str, name: str):
    """``(index entry, expected tensors)`` of the official fixture ``name`` in ``folder``."""
    with open(osp.join(folder, 'index.json')) as f:
        entry = {e['name']: e for e in json.load(f)}[name]
    return entry, torch.load(osp.join(folder, entry['expected']), weights_only=True)
