"""Memory layout (NCHW or channels_last) that inference should use for a model.

Each backbone class may declare ``preferred_memory_format`` (``'channels_last'`` or
``'contiguous'``), a rule that follows from the kernels it runs (e.g. depthwise convolutions run
through oneDNN's direct kernels on the CPU in ``channels_last``). The deploy tool and the
benchmark defaults ask :func:`preferred_memory_format`, and :func:`to_preferred_memory_format`
applies it to a model and its input.
"""
from typing import Tuple

import torch
import torch.nn as nn

_FORMATS = {
    'contiguous': torch.contiguous_format,
    'channels_last': torch.channels_last,
}


def memory_format_from_name(name: str) -> torch.memory_format:
    """``'contiguous'`` / ``'channels_last'`` -> the torch memory format."""
    if name not in _FORMATS:
        raise ValueError(f'unknown memory format {name!r}; choose one of {sorted(_FORMATS)}')
    return _FORMATS[name]


def preferred_memory_format(model: nn.Module) -> torch.memory_format:
    """The memory format declared by the first module of ``model`` that declares one.

    The walk is in module order, so a classifier, detector or segmentor takes its backbone's
    preference. Models that declare nothing run in the default contiguous (NCHW) layout.

    Args:
        model (nn.Module): Any model (bare backbone, classifier, detector, segmentor).

    Returns:
        torch.memory_format: ``torch.channels_last`` or ``torch.contiguous_format``.
    """
    for module in model.modules():
        name = getattr(type(module), 'preferred_memory_format', None)
        if isinstance(name, str):
            return memory_format_from_name(name)
    return torch.contiguous_format


def to_preferred_memory_format(model: nn.Module,
                               inputs: torch.Tensor) -> Tuple[nn.Module, torch.Tensor]:
    """Move ``model``'s 4-D weights and ``inputs`` to the model's preferred layout.

    Values are unchanged; only the strides differ.

    Args:
        model (nn.Module): The model, converted in place.
        inputs (torch.Tensor): A 4-D input batch.

    Returns:
        tuple: The model and the input in the preferred layout.
    """
    memory_format = preferred_memory_format(model)
    model.to(memory_format=memory_format)
    return model, inputs.contiguous(memory_format=memory_format)
