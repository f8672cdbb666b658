"""Convert RepLKNet checkpoints (official DingXiaoH/RepLKNet-pytorch or mmpretrain) to our keys.

Accepted inputs:

- official ImageNet release files: a flat state dict with ``stem.*``, ``stages.*``,
  ``transitions.*``, ``norm.*`` and ``head.*`` (training checkpoints wrapped in ``model`` or
  ``module`` work too);
- official mmdet/mmseg files: ``{'state_dict': {'backbone.*', 'decode_head.*', ...}}`` (only the
  backbone is converted; RepLKNet-XL's stage norms ``stages.i.norm`` are kept);
- mmpretrain's RepLKNet checkpoints: ``{'state_dict': {'backbone.*', 'head.fc.*'}}``.

The module names below the top level are the official ones in all three (and in
:class:`mmmobile.models.RepLKNet`), so the conversion is a prefix map: the official final ``norm``
becomes ``backbone.stages.<last>.norm`` (the backbone's ``final_norm``) and ``head`` becomes
``head.fc`` (mmpretrain's ``LinearClsHead``).

Files whose kernels are already merged (official ``structural_reparam`` or mmpretrain's
``small_kernel_merged=True``: ``lkb_reparam`` keys, other BNs kept) are fused the rest of the way
and come out in the form that ``RepLKNet(deploy=True)`` loads.
"""
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

_STAGE_BLOCK = re.compile(r'^stages\.(\d+)\.blocks\.(\d+)\.')
_BACKBONE_ROOTS = ('stem.', 'stages.', 'transitions.')


def _unwrap(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], str]:
    """Return ``(flat state dict without the backbone prefix, source layout)``."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    prefixed = any(k.startswith('backbone.') for k in checkpoint)
    if prefixed:
        layout = 'mmpretrain' if any(k.startswith('head.fc.') for k in checkpoint) else \
            'downstream'
        state = OrderedDict()
        for key, value in checkpoint.items():
            if key.startswith('backbone.'):
                state[key[len('backbone.'):]] = value
            elif key.startswith('head.fc.'):
                state['head.' + key[len('head.fc.'):]] = value
    else:
        layout = 'official'
        state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                            for k, v in checkpoint.items())
    if not any(k.startswith('stages.') for k in state) or 'stem.0.conv.weight' not in state:
        raise ValueError('not a RepLKNet checkpoint: no "stem.0.conv.weight" / "stages.*" keys')
    return state, layout


def infer_arch(state: Dict[str, torch.Tensor]) -> Dict:
    """Recover the official constructor arguments from backbone keys (no ``backbone.`` prefix).

    Returns:
        dict: ``large_kernel_sizes``, ``layers``, ``channels``, ``small_kernel`` (None for merged
        files, whose small kernel is no longer visible), ``dw_ratio``, ``ffn_ratio``.
    """
    blocks: Dict[int, int] = {}
    for key in state:
        match = _STAGE_BLOCK.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, -1), block)
    num_stages = max(blocks) + 1
    arch = dict(large_kernel_sizes=[], layers=[], channels=[], small_kernel=None)
    for stage in range(num_stages):
        prefix = f'stages.{stage}.blocks.0.'
        channels = state[prefix + 'pw2.conv.weight'].shape[0]
        large = state.get(prefix + 'large_kernel.lkb_origin.conv.weight',
                          state.get(prefix + 'large_kernel.lkb_reparam.weight'))
        arch['channels'].append(channels)
        arch['layers'].append((blocks[stage] + 1) // 2)
        arch['large_kernel_sizes'].append(large.shape[-1])
        small = state.get(prefix + 'large_kernel.small_conv.conv.weight')
        if small is not None:
            arch['small_kernel'] = small.shape[-1]
        if stage == 0:
            arch['dw_ratio'] = state[prefix + 'pw1.conv.weight'].shape[0] / channels
            hidden = state[f'stages.{stage}.blocks.1.pw1.conv.weight'].shape[0]
            arch['ffn_ratio'] = hidden / channels
    for key in ('dw_ratio', 'ffn_ratio'):
        if float(arch[key]).is_integer():
            arch[key] = int(arch[key])
    return arch


def _arch_name(arch: Dict, merged: bool) -> Optional[str]:
    from mmmobile.models.backbones.replknet import RepLKNet
    for name, settings in RepLKNet.arch_settings.items():
        keys = [k for k in settings if not (merged and k == 'small_kernel')]
        if all(settings[k] == arch[k] for k in keys):
            return name
    return None


def _fuse_merged(state: Dict[str, torch.Tensor], arch: Dict, final_norm: bool,
                 stage_norms: bool) -> Dict[str, torch.Tensor]:
    """Fuse a kernel-merged state dict into the ``deploy=True`` form of our backbone."""
    from mmmobile.models.backbones.replknet import RepLKNet
    model = RepLKNet(arch, final_norm=final_norm, norm_intermediate_features=stage_norms)
    model.merge_large_kernels()
    model.load_state_dict(state, strict=True)
    model.eval().switch_to_deploy()
    return model.state_dict()


def convert_replknet(checkpoint: Dict) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map a RepLKNet checkpoint onto ``backbone.*`` / ``head.fc.*`` keys.

    Args:
        checkpoint (dict): The loaded file (official flat, official downstream or mmpretrain).

    Returns:
        tuple[dict, dict]: The converted state dict and meta information: ``layout`` (official,
        downstream or mmpretrain), ``arch`` (the inferred arch dict) and ``arch_name`` (31B,
        31L, XL or None), ``deploy`` (True when the file had merged kernels: build the backbone
        with ``deploy=True``), ``final_norm`` and ``norm_intermediate_features`` (the backbone
        arguments that reproduce the file's norms) and ``num_classes`` (None without a head).
    """
    state, layout = _unwrap(checkpoint)
    backbone = OrderedDict((k, v) for k, v in state.items() if k.startswith(_BACKBONE_ROOTS))
    num_stages = 1 + max(int(_STAGE_BLOCK.match(k).group(1)) for k in backbone
                         if _STAGE_BLOCK.match(k))
    if 'norm.weight' in state:  # official classifier: the BN before pooling
        for key, value in state.items():
            if key.startswith('norm.'):
                backbone[f'stages.{num_stages - 1}.{key}'] = value
    stage_norms = [s for s in range(num_stages) if f'stages.{s}.norm.weight' in backbone]
    intermediate = len(stage_norms) == num_stages and num_stages > 1
    final_norm = stage_norms == [num_stages - 1] or (intermediate and 'norm.weight' in state)
    if stage_norms and not intermediate and stage_norms != [num_stages - 1]:
        raise ValueError(f'unsupported stage norms {stage_norms}: expected the last stage or all')

    merged = any('.lkb_reparam.' in k for k in backbone)
    arch = infer_arch(backbone)
    if merged:
        backbone = _fuse_merged(backbone, arch, final_norm, intermediate)

    converted = OrderedDict((f'backbone.{k}', v) for k, v in backbone.items())
    for key in ('weight', 'bias'):
        if f'head.{key}' in state:
            converted[f'head.fc.{key}'] = state[f'head.{key}']
    head = converted.get('head.fc.weight')
    meta = dict(
        layout=layout,
        arch=arch,
        arch_name=_arch_name(arch, merged),
        deploy=merged,
        final_norm=final_norm,
        norm_intermediate_features=intermediate,
        num_classes=None if head is None else int(head.shape[0]))
    return converted, meta
