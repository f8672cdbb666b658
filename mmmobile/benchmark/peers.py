"""Peer implementations the benchmark times beside ours: timm's RepViT, mmpretrain's RepLKNet.

Each peer is the whole ImageNet classifier in its fastest published inference form: timm's
RepViT fused with timm's own ``reparameterize_model``, mmpretrain's RepLKNet after its
``switch_to_deploy`` (``small_kernel_merged``). The benchmark times each in NCHW and in
channels_last. mmpretrain's RepLKNet has the official module names, as ours, so it gets our
weights and its output is checked against ours. CMT and MobileViTv3 have no peer package;
:func:`peer_note` says so.
"""
import importlib.util
from typing import Callable, Dict, Optional, Tuple, Union

import torch.nn as nn

from ..deploy.wrappers import TensorMode

#: Families whose only other implementation is the authors' code, which is not a package.
NO_PEER_PACKAGE = ('CMT', 'MobileViTv3')


#: ``build() -> nn.Module``: the fused peer classifier in eval mode, plain tensor in, logits out.
#: A peer with our module names takes our unfused classifier's state dict,
#: ``build(state_dict)``, and then computes our function.
PeerBuilder = Callable[..., nn.Module]


def _timm_repvit(arch: Union[str, Dict]) -> Tuple[Optional[PeerBuilder], bool, str]:
    if importlib.util.find_spec('timm') is None:
        return None, False, 'timm is not installed (pip install timm) - no peer measured'
    import timm

    name = f'repvit_{arch}' if isinstance(arch, str) else None
    if name not in timm.list_models('repvit_*'):
        return None, False, f'timm {timm.__version__} has no RepViT arch {arch} - no peer measured'

    def build() -> nn.Module:
        from timm.utils.model import reparameterize_model
        model = timm.create_model(name, pretrained=False, num_classes=1000).eval()
        return reparameterize_model(model).eval()

    return build, False, (f'timm {timm.__version__} {name}, fused with '
                          'timm.utils.reparameterize_model')


def _mmpretrain_replknet(arch: Union[str, Dict]) -> Tuple[Optional[PeerBuilder], bool, str]:
    if importlib.util.find_spec('mmpretrain') is None:
        return None, False, 'mmpretrain is not installed - no peer measured'
    import mmpretrain
    from mmpretrain.models.backbones import RepLKNet as MMPretrainRepLKNet

    if isinstance(arch, str):
        if arch not in MMPretrainRepLKNet.arch_settings:
            return None, False, f'mmpretrain has no RepLKNet arch {arch} - no peer measured'
        backbone, name = dict(arch=arch), arch
        channels = MMPretrainRepLKNet.arch_settings[arch]['channels'][-1]
    else:  # mmpretrain takes the FFN ratio as a constructor argument
        backbone = dict(arch={k: v for k, v in arch.items() if k != 'ffn_ratio'},
                        ffn_ratio=arch.get('ffn_ratio', 4))
        name, channels = 'custom arch', arch['channels'][-1]

    def build(state_dict: Optional[Dict] = None) -> nn.Module:
        from mmpretrain.models import ImageClassifier
        num_classes = 1000 if state_dict is None else state_dict['head.fc.weight'].shape[0]
        model = ImageClassifier(
            backbone=dict(type='RepLKNet', out_indices=(3, ), **backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=channels))
        if state_dict is not None:  # the official module names, as ours
            model.load_state_dict(state_dict)
        model.backbone.switch_to_deploy()
        model.eval()  # mmpretrain's RepLKNet.train() returns None: do not chain
        return TensorMode(model)

    return build, True, (f'mmpretrain {mmpretrain.__version__} RepLKNet ({name}) classifier, '
                         'switch_to_deploy (small_kernel_merged)')


_PEERS: Dict[str, Tuple[str, Callable]] = {  # family -> (package, arch -> peer)
    'RepViT': ('timm', _timm_repvit),
    'RepLKNet': ('mmpretrain', _mmpretrain_replknet),
}


def find_peer(family: str, arch: Union[str, Dict]
              ) -> Tuple[Optional[str], Optional[PeerBuilder], bool, str]:
    """The peer classifier of a variant.

    Args:
        family (str): Backbone class name.
        arch (str | dict): Arch key or arch dict.

    Returns:
        tuple: ``(package, build, shares_weights, note)``; ``build`` (see :data:`PeerBuilder`)
        is None when no peer can be measured, ``shares_weights`` says whether it takes our
        state dict, and ``note`` says what the peer is or why there is none.
    """
    if family in _PEERS:
        package, factory = _PEERS[family]
        build, shares_weights, note = factory(arch)
        return package, build, shares_weights, note
    return None, None, False, peer_note(family)


def peer_note(family: str) -> str:
    """What the output says about a family without a peer."""
    if family in NO_PEER_PACKAGE:
        return f'no peer package exists for {family} (only the authors\' code)'
    return f'no peer implementation known for {family}'
