"""Convert official MobileViTv3 checkpoints (micronDLA/MobileViTv3 on Apple CVNets).

Handles both key layouts, detected from the keys:

- v1-based (XXS, XS, S and the L2 variants; CVNets v0.1): ``local_rep.conv_3x3`` /
  ``local_rep.conv_1x1``, ``global_rep.K.pre_norm_mha.*`` / ``pre_norm_ffn.{0,1,4}``, ``conv_proj``,
  ``fusion``, ``conv_1x1_exp``, ``classifier.fc``;
- v2-based (0.5, 0.75, 1.0; CVNets v0.2): ``local_rep.0`` / ``local_rep.1``,
  ``global_rep.K.pre_norm_attn.*`` / ``pre_norm_ffn.{0,1,3}`` (1x1 ``ConvLayer`` s), ``conv_proj``
  on concat(global, local), ``classifier.1``.

Release files (``checkpoint_ema_best.pt``) are flat state dicts; CVNets' resumable
``checkpoint.pt`` (``model_state_dict``) and ``{'state_dict'|'model': ...}`` files unwrap, a
``module.`` prefix is stripped, and downstream (segmentation/detection) files keep only their
``encoder.*`` backbone. Keys map onto :class:`~mmmobile.models.MobileViTv3` (``backbone.*``) and
:class:`~mmmobile.models.MobileViTv3ClsHead` (``head.fc.*``); values are not changed.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

_LAYER_KEY = re.compile(r'^layer_([1-5])\.(\d+)\.(.+)$')
_CONV_LAYER = [(r'block\.conv\.', 'conv.'), (r'block\.norm\.', 'bn.')]

# Official sub-key (inside ``layer_S.J.``) -> ours, per layout; first match wins.
_MV2_RULES = [(r'^block\.exp_1x1\.', 'expand.'), (r'^block\.conv_3x3\.', 'depthwise.'),
              (r'^block\.red_1x1\.', 'project.')]
_V1_BLOCK_RULES = [
    (r'^local_rep\.conv_3x3\.', 'local_dw.'),
    (r'^local_rep\.conv_1x1\.block\.conv\.', 'local_pw.'),
    (r'^global_rep\.(\d+)\.pre_norm_mha\.0\.', r'transformer.layers.\1.norm1.'),
    (r'^global_rep\.(\d+)\.pre_norm_mha\.1\.qkv_proj\.', r'transformer.layers.\1.attn.qkv.'),
    (r'^global_rep\.(\d+)\.pre_norm_mha\.1\.out_proj\.', r'transformer.layers.\1.attn.proj.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.0\.', r'transformer.layers.\1.norm2.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.1\.', r'transformer.layers.\1.ffn.fc1.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.4\.', r'transformer.layers.\1.ffn.fc2.'),
    (r'^global_rep\.\d+\.(weight|bias)$', r'transformer.norm.\1'),
    (r'^conv_proj\.', 'global_proj.'),
    (r'^fusion\.', 'fusion.'),
]
_V2_BLOCK_RULES = [
    (r'^local_rep\.0\.', 'local_dw.'),
    (r'^local_rep\.1\.block\.conv\.', 'local_pw.'),
    (r'^global_rep\.(\d+)\.pre_norm_attn\.0\.', r'transformer.layers.\1.norm1.'),
    (r'^global_rep\.(\d+)\.pre_norm_attn\.1\.qkv_proj\.block\.conv\.',
     r'transformer.layers.\1.attn.qkv.'),
    (r'^global_rep\.(\d+)\.pre_norm_attn\.1\.out_proj\.block\.conv\.',
     r'transformer.layers.\1.attn.proj.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.0\.', r'transformer.layers.\1.norm2.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.1\.block\.conv\.', r'transformer.layers.\1.ffn.fc1.'),
    (r'^global_rep\.(\d+)\.pre_norm_ffn\.3\.block\.conv\.', r'transformer.layers.\1.ffn.fc2.'),
    (r'^global_rep\.\d+\.(weight|bias)$', r'transformer.norm.\1'),
    (r'^conv_proj\.', 'fusion.'),
]
_TOP_RULES = [
    (r'^conv_1\.', 'backbone.stem.'),
    (r'^conv_1x1_exp\.', 'backbone.final_conv.'),
    (r'^classifier\.fc\.', 'head.fc.'),  # v1-based
    (r'^classifier\.1\.', 'head.fc.'),  # v2-based
]


def _apply(rules: List[Tuple[str, str]], key: str) -> Optional[str]:
    for pattern, replacement in rules:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return None


def _conv_layer(key: str) -> str:
    """CVNets ``ConvLayer`` children (``block.conv`` / ``block.norm``) -> ConvBN's."""
    for pattern, replacement in _CONV_LAYER:
        key = re.sub(pattern, replacement, key)
    return key


def unwrap_state_dict(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], int]:
    """Return the model weights of a MobileViTv3 file and how many non-backbone keys of a
    downstream (``encoder.*``) file were dropped."""
    for key in ('model_state_dict', 'state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in checkpoint.items()}
    dropped = 0
    if any(k.startswith('encoder.') for k in state):
        dropped = sum(not k.startswith('encoder.') for k in state)
        state = {k[len('encoder.'):]: v for k, v in state.items() if k.startswith('encoder.')}
    return state, dropped


def detect_layout(state: Dict[str, torch.Tensor]) -> str:
    """``'v1'`` or ``'v2'`` (the MobileViT generation the checkpoint's variant builds on).

    Raises:
        ValueError: For anything else, including MobileViT v1/v2 (not v3) checkpoints.
    """
    if not any(k.startswith('conv_1.') for k in state) or not any(
            _LAYER_KEY.match(k) for k in state):
        raise ValueError('not an official MobileViTv3 checkpoint: no "conv_1.*" / '
                         '"layer_N.*" keys found')
    v1 = any('.pre_norm_mha.' in k for k in state)
    v2 = any('.pre_norm_attn.' in k for k in state)
    if v1 == v2:
        raise ValueError('unrecognised MobileViTv3 key layout: expected transformer keys '
                         '"global_rep.K.pre_norm_mha.*" (v1-based) or '
                         '"global_rep.K.pre_norm_attn.*" (v2-based)')
    for stage in (3, 4, 5):
        if v1:
            fusion = state.get(f'layer_{stage}.1.fusion.block.conv.weight')
            local = state.get(f'layer_{stage}.1.local_rep.conv_3x3.block.conv.weight')
            if fusion is None or local is None or fusion.shape[-1] != 1 or local.shape[1] != 1:
                raise ValueError('a MobileViT (v1) checkpoint, not MobileViTv3: the v3 blocks '
                                 'have a 1x1 fusion conv and a depthwise local conv')
        else:
            proj = state.get(f'layer_{stage}.1.conv_proj.block.conv.weight')
            local = state.get(f'layer_{stage}.1.local_rep.1.block.conv.weight')
            if proj is None or local is None or proj.shape[1] != 2 * local.shape[0]:
                raise ValueError('a MobileViTv2 checkpoint, not MobileViTv3: the v3 blocks '
                                 'project concat(global, local) (2 d input channels)')
    return 'v1' if v1 else 'v2'


def _convert_key(key: str, layout: str) -> str:
    match = _LAYER_KEY.match(key)
    if match is not None:
        layer, index, sub_key = int(match.group(1)), int(match.group(2)), match.group(3)
        mobilevit_block = layer >= 3 and index == 1
        if mobilevit_block:
            rules = _V1_BLOCK_RULES if layout == 'v1' else _V2_BLOCK_RULES
        else:
            rules = _MV2_RULES
        new_key = _apply(rules, sub_key)
        if new_key is None:
            raise KeyError(f'unexpected MobileViTv3 key {key!r}')
        return f'backbone.stages.{layer - 1}.{index}.{_conv_layer(new_key)}'
    new_key = _apply(_TOP_RULES, key)
    if new_key is None:
        raise KeyError(f'unexpected MobileViTv3 key {key!r}')
    return _conv_layer(new_key)


def _infer_arch(converted: Dict[str, torch.Tensor], layout: str) -> Optional[str]:
    from mmmobile.models.backbones.mobilevitv3 import MobileViTv3  # converters need no models
    stage_out = [int(converted[f'backbone.stages.{s}.0.project.conv.weight'].shape[0])
                 for s in range(5)]
    dims = [int(converted[f'backbone.stages.{s}.1.local_pw.weight'].shape[0])
            for s in range(2, 5)]
    depths = [len({k.split('.')[6] for k in converted
                   if k.startswith(f'backbone.stages.{s}.1.transformer.layers.')})
              for s in range(2, 5)]
    stem = int(converted['backbone.stem.conv.weight'].shape[0])
    for name, setting in MobileViTv3.arch_settings.items():
        if (setting['base'] == layout and setting['channels'] == stage_out
                and setting['transformer_dims'] == dims and setting['depths'] == depths
                and setting['stem_channels'] == stem):
            return name
    return None


def convert_mobilevitv3(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map an official MobileViTv3 checkpoint onto ``backbone.*`` / ``head.*`` keys.

    Args:
        checkpoint (dict): The loaded official file.

    Returns:
        tuple[dict, dict]: The converted state dict and meta information: ``layout`` (``'v1'``
        or ``'v2'`` based), ``arch`` (a key of ``MobileViTv3.arch_settings`` or None),
        ``final_conv`` (whether the file has the v1-based ``conv_1x1_exp``), ``num_classes`` (int
        or None) and, for downstream files, ``dropped_keys`` (their non-backbone keys).
    """
    state, dropped = unwrap_state_dict(checkpoint)
    layout = detect_layout(state)
    converted = OrderedDict((_convert_key(key, layout), value) for key, value in state.items())
    head_weight = converted.get('head.fc.weight')
    meta = dict(layout=layout, arch=_infer_arch(converted, layout),
                final_conv=any(k.startswith('backbone.final_conv.') for k in converted),
                num_classes=None if head_weight is None else int(head_weight.shape[0]))
    if dropped:
        meta['dropped_keys'] = dropped
    return converted, meta
