"""Convert official CMT checkpoints (huawei-noah/Efficient-AI-Backbones ``cmt_pytorch``).

Handles the ImageNet release files (``cmt_tiny.pth``, ``cmt_xs.pth``, ``cmt_small.pth``,
``cmt_base.pth``: ``{'model': state_dict, 'model_ema': ..., ...}``; the ``model`` weights are the
ones the official evaluation uses), ``{'state_dict': ...}`` files and flat state dicts. Keys map
onto :class:`~mmmobile.models.CMT` (``backbone.*``) and
:class:`~mmmobile.models.CMTClsHead` (``head.*``); values are not changed.
"""
import math
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

_STAGES = 'abcd'

# Sub-key renames inside ``blocks_{x}.{j}.`` (official -> mmmobile), first match wins.
_BLOCK_RULES = [
    (r'^proj\.', 'lpu.conv.'),
    (r'^norm([12])\.', r'norm\1.'),
    (r'^attn\.([qkv])\.', r'attn.\1.'),
    (r'^attn\.proj\.', 'attn.proj.'),
    (r'^attn\.sr\.0\.', 'attn.sr.conv.'),
    (r'^attn\.sr\.1\.', 'attn.sr.bn.'),
    (r'^mlp\.conv1\.0\.', 'ffn.expand.conv.'),
    (r'^mlp\.conv1\.2\.', 'ffn.expand.bn.'),
    (r'^mlp\.proj\.', 'ffn.dw.conv.'),
    (r'^mlp\.proj_bn\.', 'ffn.dw_bn.'),
    (r'^mlp\.conv2\.0\.', 'ffn.project.conv.'),
    (r'^mlp\.conv2\.1\.', 'ffn.project.bn.'),
]
_TOP_RULES = [
    (r'^relative_pos_([a-d])$', lambda m: f'backbone.stages.{_STAGES.index(m.group(1))}.'
     'relative_pos'),
    (r'^stem_conv([123])\.(.+)$', lambda m: f'backbone.stem.{int(m.group(1)) - 1}.conv.'
     f'{m.group(2)}'),
    (r'^stem_norm([123])\.(.+)$', lambda m: f'backbone.stem.{int(m.group(1)) - 1}.bn.'
     f'{m.group(2)}'),
    (r'^patch_embed_([a-d])\.(.+)$', lambda m: f'backbone.stages.{_STAGES.index(m.group(1))}.'
     f'patch_embed.{m.group(2)}'),
    (r'^_fc\.(.+)$', lambda m: f'head.proj.conv.{m.group(1)}'),
    (r'^_bn\.(.+)$', lambda m: f'head.proj.bn.{m.group(1)}'),
    (r'^head\.(.+)$', lambda m: f'head.fc.{m.group(1)}'),
]
_BLOCK_KEY = re.compile(r'^blocks_([a-d])\.(\d+)\.(.+)$')


def unwrap_state_dict(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    """Return the weights of a CMT release file (``model``, ``state_dict`` or flat)."""
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in checkpoint.items()}
    if not any(k.startswith('blocks_a.') for k in state) or 'relative_pos_a' not in state:
        raise ValueError('not an official CMT checkpoint: no "blocks_a.*" / "relative_pos_a" '
                         'keys found')
    return state


def _convert_key(key: str) -> str:
    match = _BLOCK_KEY.match(key)
    if match is not None:
        stage, index, sub_key = _STAGES.index(match.group(1)), match.group(2), match.group(3)
        for pattern, replacement in _BLOCK_RULES:
            new_key, count = re.subn(pattern, replacement, sub_key)
            if count:
                return f'backbone.stages.{stage}.blocks.{index}.{new_key}'
        raise KeyError(f'unexpected CMT block key {key!r}')
    for pattern, replacement in _TOP_RULES:
        top = re.match(pattern, key)
        if top is not None:
            return replacement(top)
    raise KeyError(f'unexpected CMT key {key!r}')


def _infer_arch(state: Dict[str, torch.Tensor]) -> Optional[str]:
    from mmmobile.models.backbones.cmt import CMT  # local: converters do not need models
    embed_dims = [int(state[f'patch_embed_{s}.proj.weight'].shape[0]) for s in _STAGES]
    depths = [len({int(m.group(2)) for k in state if (m := _BLOCK_KEY.match(k))
                   and m.group(1) == s}) for s in _STAGES]
    for name, setting in CMT.arch_settings.items():
        if setting['embed_dims'] == embed_dims and setting['depths'] == depths:
            return name
    return None


def convert_cmt(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map an official CMT checkpoint onto ``backbone.*`` / ``head.*`` keys.

    Args:
        checkpoint (dict): The loaded official file.

    Returns:
        tuple[dict, dict]: The converted state dict and meta information: ``arch`` (a key of
        ``CMT.arch_settings`` or None for a custom layout), ``img_size`` (the training
        resolution, from the first stage's bias: ``4 * sqrt(N_q)``; build the backbone with it
        to load the file) and ``num_classes`` (int or None).
    """
    state = unwrap_state_dict(checkpoint)
    converted = OrderedDict((_convert_key(key), value) for key, value in state.items())
    num_query = state['relative_pos_a'].shape[1]
    side = math.isqrt(num_query)
    head_weight = converted.get('head.fc.weight')
    meta = dict(
        arch=_infer_arch(state),
        img_size=4 * side if side * side == num_query else None,
        num_classes=None if head_weight is None else int(head_weight.shape[0]))
    return converted, meta
