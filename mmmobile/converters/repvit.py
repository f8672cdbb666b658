"""Convert official RepViT checkpoints (THU-MIG/RepViT) to mmmobile/mmpretrain keys.

Handles the ImageNet release files (``{'model': state_dict}`` with ``features.*`` and the
``classifier.classifier`` / ``classifier.classifier_dist`` heads), the official mmdet/mmseg files
(``{'state_dict': {'backbone.features.*', ...}}``, backbone keys only are converted), and flat
state dicts. Both RepVGGDW generations are detected from the keys.
"""
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

_BLOCK_KEY = re.compile(r'^features\.(\d+)\.(.+)$')

# Sub-key renames inside a stride-1 block (official -> mmmobile).
_STRIDE1_RULES = [
    (r'^token_mixer\.0\.conv\.c\.', 'token_mixer.conv.conv.'),
    (r'^token_mixer\.0\.conv\.bn\.', 'token_mixer.conv.bn.'),
    (r'^token_mixer\.0\.conv1\.c\.', 'token_mixer.conv1.conv.'),  # legacy: 1x1 ConvBN
    (r'^token_mixer\.0\.conv1\.bn\.', 'token_mixer.conv1.bn.'),
    (r'^token_mixer\.0\.conv1\.', 'token_mixer.conv1.'),  # current: biased 1x1 conv
    (r'^token_mixer\.0\.bn\.', 'token_mixer.bn.'),
    (r'^token_mixer\.1\.', 'se.'),
]
# Sub-key renames inside a stride-2 block.
_STRIDE2_RULES = [
    (r'^token_mixer\.0\.c\.', 'dw_conv.conv.'),
    (r'^token_mixer\.0\.bn\.', 'dw_conv.bn.'),
    (r'^token_mixer\.1\.', 'se.'),
    (r'^token_mixer\.2\.c\.', 'pw_conv.conv.'),
    (r'^token_mixer\.2\.bn\.', 'pw_conv.bn.'),
]
_FFN_RULES = [
    (r'^channel_mixer\.m\.0\.c\.', 'ffn.pw_expand.conv.'),
    (r'^channel_mixer\.m\.0\.bn\.', 'ffn.pw_expand.bn.'),
    (r'^channel_mixer\.m\.2\.c\.', 'ffn.pw_project.conv.'),
    (r'^channel_mixer\.m\.2\.bn\.', 'ffn.pw_project.bn.'),
]
_HEAD_RULES = [
    (r'^classifier\.classifier\.bn\.', 'head.head.bn.'),
    (r'^classifier\.classifier\.l\.', 'head.head.linear.'),
    (r'^classifier\.classifier_dist\.bn\.', 'head.head_dist.bn.'),
    (r'^classifier\.classifier_dist\.l\.', 'head.head_dist.linear.'),
]


def _apply_rules(key: str, rules) -> str:
    for pattern, replacement in rules:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    raise KeyError(key)


def unwrap_state_dict(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    """Return the weights of a RepViT release file (``model``, ``state_dict`` or flat)."""
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
             for k, v in checkpoint.items()}
    if not any(k.startswith('features.') for k in state):
        raise ValueError('not an official RepViT checkpoint: no "features.*" keys found')
    return state


def convert_repvit(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map an official RepViT checkpoint onto ``backbone.*`` / ``head.*`` keys.

    Stages are recovered from the keys: every block with a ``token_mixer.2`` (the pointwise conv
    of a stride-2 block) starts a new stage, so any official layout converts without an arch name.

    Args:
        checkpoint (dict): The loaded official file.

    Returns:
        tuple[dict, dict]: The converted state dict and meta information: ``legacy_repvggdw``
        (bool: which RepVGGDW generation the file uses, to pass to the backbone),
        ``distillation`` (bool), ``num_classes`` (int or None) and ``num_blocks`` (stride-1
        blocks per stage, as in a RepViT ``arch`` dict).
    """
    state = unwrap_state_dict(checkpoint)
    block_ids = sorted({int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))})
    stride2 = {i for i in block_ids if f'features.{i}.token_mixer.2.c.weight' in state}
    legacy = any(re.match(r'^features\.\d+\.token_mixer\.0\.conv1\.c\.weight$', k) for k in state)

    location = {}  # official block index -> (stage, index within stage)
    stage, index, num_blocks = 0, 0, [0]
    for block_id in block_ids:
        if block_id == 0:
            continue
        if block_id in stride2:
            stage, index = stage + 1, 0
            num_blocks.append(0)
        else:
            num_blocks[stage] += 1
        location[block_id] = (stage, index)
        index += 1

    converted = OrderedDict()
    for key, value in state.items():
        if key.startswith('classifier.'):
            converted[_apply_rules(key, _HEAD_RULES)] = value
            continue
        match = _BLOCK_KEY.match(key)
        if match is None:
            continue  # e.g. neck/decode-head keys of a downstream file
        block_id, sub_key = int(match.group(1)), match.group(2)
        if block_id == 0:
            converted[f'backbone.stem.{sub_key.replace(".c.", ".conv.")}'] = value
            continue
        stage, index = location[block_id]
        rules = (_STRIDE2_RULES if block_id in stride2 else _STRIDE1_RULES) + _FFN_RULES
        converted[f'backbone.stages.{stage}.{index}.{_apply_rules(sub_key, rules)}'] = value

    head_weight = converted.get('head.head.linear.weight')
    meta = dict(
        legacy_repvggdw=legacy,
        distillation='head.head_dist.linear.weight' in converted,
        num_classes=None if head_weight is None else int(head_weight.shape[0]),
        num_blocks=num_blocks)
    return converted, meta
