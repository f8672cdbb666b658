"""Convert official and timm RepViT checkpoints to mmmobile/mmpretrain keys.

Handles the ImageNet release files of THU-MIG/RepViT (``{'model': state_dict}`` with
``features.*`` and the ``classifier.classifier`` / ``classifier.classifier_dist`` heads), the
official mmdet/mmseg files (``{'state_dict': {'backbone.features.*', ...}}``, backbone keys only
are converted), flat state dicts, and timm's layout (``timm.models.repvit``: ``stem.conv1.c.*``,
``stages.N.downsample.*`` / ``stages.N.blocks.M.*``, ``head.head`` / ``head.head_dist``), which
the authors' ``*_timm.pth`` files, the ``timm/repvit_*`` hub weights and every model fine-tuned
through timm use. The layout and both RepVGGDW generations are detected from the keys.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

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


# timm layout: ConvNorm's conv is ``c``; sub-key renames inside a stride-1 block (timm -> ours).
_TIMM_BLOCK_RULES = [
    (r'^token_mixer\.(conv1?)\.c\.', r'token_mixer.\1.conv.'),
    (r'^token_mixer\.', 'token_mixer.'),  # conv.bn, conv1.bn (legacy), conv1.{weight,bias}, bn
    (r'^se\.', 'se.'),
    (r'^channel_mixer\.conv1\.c\.', 'ffn.pw_expand.conv.'),
    (r'^channel_mixer\.conv1\.bn\.', 'ffn.pw_expand.bn.'),
    (r'^channel_mixer\.conv2\.c\.', 'ffn.pw_project.conv.'),
    (r'^channel_mixer\.conv2\.bn\.', 'ffn.pw_project.bn.'),
]
# timm's RepVitDownsample without its pre_block (which is our previous stage's last block).
_TIMM_DOWNSAMPLE_RULES = [
    (r'^spatial_downsample\.c\.', 'dw_conv.conv.'),
    (r'^spatial_downsample\.bn\.', 'dw_conv.bn.'),
    (r'^channel_downsample\.c\.', 'pw_conv.conv.'),
    (r'^channel_downsample\.bn\.', 'pw_conv.bn.'),
    (r'^ffn\.conv1\.c\.', 'ffn.pw_expand.conv.'),
    (r'^ffn\.conv1\.bn\.', 'ffn.pw_expand.bn.'),
    (r'^ffn\.conv2\.c\.', 'ffn.pw_project.conv.'),
    (r'^ffn\.conv2\.bn\.', 'ffn.pw_project.bn.'),
]
_TIMM_HEAD_RULES = [
    (r'^head\.(head|head_dist)\.bn\.', r'head.\1.bn.'),
    (r'^head\.(head|head_dist)\.l\.', r'head.\1.linear.'),
]
_TIMM_STEM_RULES = [
    (r'^stem\.conv1\.c\.', 'backbone.stem.0.conv.'),
    (r'^stem\.conv1\.bn\.', 'backbone.stem.0.bn.'),
    (r'^stem\.conv2\.c\.', 'backbone.stem.2.conv.'),
    (r'^stem\.conv2\.bn\.', 'backbone.stem.2.bn.'),
]
_TIMM_STAGE_KEY = re.compile(r'^stages\.(\d+)\.(?:blocks\.(\d+)|downsample)\.(.+)$')

#: timm's first-release models (legacy RepVGGDW), named in messages: (embed_dim, depth).
_TIMM_FIRST_RELEASE = {
    'repvit_m1': ((48, 96, 192, 384), (2, 2, 14, 2)),
    'repvit_m2': ((64, 128, 256, 512), (2, 2, 12, 2)),
    'repvit_m3': ((64, 128, 256, 512), (4, 4, 18, 2)),
}


def _apply_rules(key: str, rules) -> str:
    for pattern, replacement in rules:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    raise KeyError(key)


def unwrap_state_dict(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    """Return the weights of a RepViT file (``model``, ``state_dict`` or flat), without the
    ``backbone.`` prefix of downstream files."""
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
             for k, v in checkpoint.items()}
    if not any(k.startswith('features.') for k in state) and not is_timm_layout(state):
        raise ValueError('not a RepViT checkpoint: neither official keys ("features.*") nor '
                         'timm keys ("stem.conv1.c.*", "stages.N.*") found')
    return state


def is_timm_layout(state: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` uses timm's RepViT names (``stem.conv1.c.weight``, ``stages.N.*``)."""
    return 'stem.conv1.c.weight' in state and any(k.startswith('stages.') for k in state)


def _arch_settings() -> Dict[str, Dict]:
    from mmmobile.models.backbones.repvit import RepViT
    return RepViT.arch_settings


def _match_arch(channels: List[int], num_blocks: List[int]) -> Optional[str]:
    """The ``RepViT.arch_settings`` name with these widths and stride-1 block counts, if any."""
    for name, setting in _arch_settings().items():
        if list(setting['channels']) == channels and list(setting['num_blocks']) == num_blocks:
            return name
    return None


def convert_timm_repvit(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map a timm-layout RepViT state dict onto ``backbone.*`` / ``head.*`` keys.

    timm (``timm.models.repvit``) groups blocks differently: its stage ``s > 0`` starts with a
    ``RepVitDownsample`` whose ``pre_block`` is the last stride-1 block of our stage ``s - 1``
    (the paper's deeper downsampling layer), so our stage ``s`` holds timm's ``depth[s]`` blocks
    plus one for every stage but the last.

    Args:
        state (dict): The unwrapped timm state dict.

    Returns:
        tuple[dict, dict]: The converted state dict and meta information as
        :func:`convert_repvit`, plus ``arch`` (our variant name).

    Raises:
        ValueError: The file holds an architecture that ``RepViT.arch_settings`` lacks (e.g.
            timm's ``repvit_m3``), named in the message.
    """
    stages = sorted({int(m.group(1)) for k in state if (m := _TIMM_STAGE_KEY.match(k))})
    if stages != list(range(len(stages))):
        raise ValueError(f'timm RepViT checkpoint with unexpected stage indices {stages}')
    depths = [len({int(m.group(2)) for k in state
                   if (m := _TIMM_STAGE_KEY.match(k)) and int(m.group(1)) == s and m.group(2)})
              for s in stages]
    channels = [int(state['stem.conv2.c.weight'].shape[0])] + [
        int(state[f'stages.{s}.downsample.channel_downsample.c.weight'].shape[0])
        for s in stages[1:]]
    num_blocks = [d + (1 if s < len(stages) - 1 else 0) for s, d in enumerate(depths)]
    legacy = any(k.endswith('.token_mixer.conv1.c.weight') for k in state)
    arch = _match_arch(channels, num_blocks)
    if arch is None:
        named = [n for n, spec in _TIMM_FIRST_RELEASE.items()
                 if spec == (tuple(channels), tuple(depths))]
        name = f"timm's {named[0]}" if named else 'a RepViT'
        raise ValueError(
            f'timm-layout checkpoint of {name} (embed_dim {tuple(channels)}, depth '
            f'{tuple(depths)}): no mmmobile RepViT arch has these widths and depths '
            f'(available: {", ".join(_arch_settings())})')

    converted = OrderedDict()
    for key, value in state.items():
        if key.startswith('head.'):
            converted[_apply_rules(key, _TIMM_HEAD_RULES)] = value
        elif key.startswith('stem.'):
            converted[_apply_rules(key, _TIMM_STEM_RULES)] = value
        elif (match := _TIMM_STAGE_KEY.match(key)) is not None:
            stage, block, sub_key = int(match.group(1)), match.group(2), match.group(3)
            if block is not None:  # our stages > 0 start with the downsampling block
                index = int(block) + (1 if stage > 0 else 0)
                new = f'{stage}.{index}.{_apply_rules(sub_key, _TIMM_BLOCK_RULES)}'
            elif sub_key.startswith('pre_block.'):
                index = depths[stage - 1] + (1 if stage > 1 else 0)
                new = (f'{stage - 1}.{index}.'
                       f'{_apply_rules(sub_key[len("pre_block."):], _TIMM_BLOCK_RULES)}')
            else:
                new = f'{stage}.0.{_apply_rules(sub_key, _TIMM_DOWNSAMPLE_RULES)}'
            converted[f'backbone.stages.{new}'] = value
        # other keys (necks, decode heads of downstream files) are not backbone weights

    meta = _meta(converted, legacy, num_blocks)
    meta.update(arch=arch, layout='timm')
    return converted, meta


def _meta(converted: Dict[str, torch.Tensor], legacy: bool, num_blocks: List[int]) -> Dict:
    head_weight = converted.get('head.head.linear.weight')
    return dict(
        legacy_repvggdw=legacy,
        distillation='head.head_dist.linear.weight' in converted,
        num_classes=None if head_weight is None else int(head_weight.shape[0]),
        num_blocks=num_blocks)


def convert_repvit(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map an official or timm-layout RepViT checkpoint onto ``backbone.*`` / ``head.*`` keys.

    Official files: stages are recovered from the keys, since every block with a
    ``token_mixer.2`` (the pointwise conv of a stride-2 block) starts a new stage, so any
    official layout converts without an arch name. timm files go through
    :func:`convert_timm_repvit`.

    Args:
        checkpoint (dict): The loaded file.

    Returns:
        tuple[dict, dict]: The converted state dict and meta information: ``legacy_repvggdw``
        (bool: which RepVGGDW generation the file uses, to pass to the backbone),
        ``distillation`` (bool), ``num_classes`` (int or None), ``num_blocks`` (stride-1
        blocks per stage, as in a RepViT ``arch`` dict) and ``layout`` (``'official'`` or
        ``'timm'``; timm files also give ``arch``).
    """
    state = unwrap_state_dict(checkpoint)
    if is_timm_layout(state):
        return convert_timm_repvit(state)
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

    meta = _meta(converted, legacy, num_blocks)
    meta['layout'] = 'official'
    return converted, meta
