"""Peer implementations the benchmark times beside ours: timm's RepViT, mmpretrain's RepLKNet.

Each peer is the whole ImageNet classifier in its fastest published inference form: timm's
RepViT fused with timm's own ``reparameterize_model``, mmpretrain's RepLKNet after its
``switch_to_deploy`` (``small_kernel_merged``). The benchmark times each in NCHW and in
channels_last. CMT and MobileViTv3 have no peer package; :func:`peer_note` says so.
"""
import importlib.util
from typing import Callable, Dict, Optional, Tuple

import torch.nn as nn

#: Families whose only other implementation is the authors' code, which is not a package.
NO_PEER_PACKAGE = ('CMT', 'MobileViTv3')


def _timm_repvit(arch: str) -> Tuple[Optional[Callable[[], nn.Module]], str]:
    if importlib.util.find_spec('timm') is None:
        return None, 'timm is not installed (pip install timm) - no peer measured'
    import timm

    name = f'repvit_{arch}'
    if name not in timm.list_models('repvit_*'):
        return None, f'timm {timm.__version__} has no {name} - no peer measured'

    def build() -> nn.Module:
        from timm.utils.model import reparameterize_model
        model = timm.create_model(name, pretrained=False, num_classes=1000).eval()
        return reparameterize_model(model).eval()

    return build, f'timm {timm.__version__} {name}, fused with timm.utils.reparameterize_model'


def _mmpretrain_replknet(arch: str) -> Tuple[Optional[Callable[[], nn.Module]], str]:
    if importlib.util.find_spec('mmpretrain') is None:
        return None, 'mmpretrain is not installed - no peer measured'
    import mmpretrain
    from mmpretrain.models.backbones import RepLKNet as MMPretrainRepLKNet

    if arch not in MMPretrainRepLKNet.arch_settings:
        return None, f'mmpretrain has no RepLKNet arch {arch} - no peer measured'
    channels = MMPretrainRepLKNet.arch_settings[arch]['channels'][-1]

    def build() -> nn.Module:
        from mmpretrain.models import ImageClassifier
        model = ImageClassifier(
            backbone=dict(type='RepLKNet', arch=arch, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=channels))
        model.backbone.switch_to_deploy()
        model.eval()  # mmpretrain's RepLKNet.train() returns None: do not chain
        return _TensorMode(model)

    return build, (f'mmpretrain {mmpretrain.__version__} RepLKNet-{arch} classifier, '
                   'switch_to_deploy (small_kernel_merged)')


class _TensorMode(nn.Module):
    """Calls an OpenMMLab model in ``mode='tensor'`` (plain tensor in, tensors out)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


_PEERS: Dict[str, Tuple[str, Callable]] = {
    'RepViT': ('timm', _timm_repvit),
    'RepLKNet': ('mmpretrain', _mmpretrain_replknet),
}


def find_peer(family: str, arch: str) -> Tuple[Optional[str], Optional[Callable[[], nn.Module]],
                                                str]:
    """The peer classifier of a variant.

    Args:
        family (str): Backbone class name.
        arch (str): Arch key.

    Returns:
        tuple: ``(package, build, note)``; ``build`` is a zero-argument function returning the
        fused peer classifier in eval mode (plain tensor in, logits out), or None when no peer
        can be measured, and ``note`` says what the peer is or why there is none.
    """
    if family in _PEERS:
        package, factory = _PEERS[family]
        build, note = factory(arch)
        return package, build, note
    return None, None, peer_note(family)


def peer_note(family: str) -> str:
    """What the output says about a family without a peer."""
    if family in NO_PEER_PACKAGE:
        return f'no peer package exists for {family} (only the authors\' code)'
    return f'no peer implementation known for {family}'
