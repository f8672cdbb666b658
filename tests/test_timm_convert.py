"""timm-layout RepViT checkpoints: every timm variant converts, loads strictly and gives timm's logits.

Each timm RepViT variant is built with random weights and random BatchNorm statistics, its state
dict saved as a user would (``torch.save(model.state_dict(), f)``), converted, loaded strictly
into the mmpretrain classifier of the matching arch and compared on one small input.
"""
import os.path as osp

import pytest
import torch

from mmmobile import convert_checkpoint
from mmmobile.utils import ToolError, randomize_bn_statistics, relative_error
from .tool_loader import command_line, load_tool

timm = pytest.importorskip('timm')

#: timm model -> (our arch, legacy RepVGGDW), or None where mmmobile has no such arch.
TIMM_ARCHS = {
    'repvit_m0_9': ('m0_9', False),
    'repvit_m1_0': ('m1_0', False),
    'repvit_m1_1': ('m1_1', False),
    'repvit_m1_5': ('m1_5', False),
    'repvit_m2_3': ('m2_3', False),
    'repvit_m1': ('m0_9', True),
    'repvit_m2': ('m1_1', True),
    'repvit_m3': None,
}
NUM_CLASSES = 10


def save_timm(name: str, path: str, **kwargs) -> torch.nn.Module:
    """A timm RepViT with random weights and BN statistics, its state dict saved to ``path``."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, **kwargs)
    randomize_bn_statistics(model, seed=1).eval()
    torch.save(model.state_dict(), path)
    return model


def build_classifier(arch: str, legacy: bool, distillation: bool = True) -> torch.nn.Module:
    from mmpretrain.registry import MODELS

    from mmmobile.models import RepViT
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmmobile.RepViT', arch=arch, out_indices=(3, ),
                      legacy_repvggdw=legacy),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='mmmobile.RepViTClsHead', num_classes=NUM_CLASSES,
                  in_channels=RepViT.arch_settings[arch]['channels'][-1],
                  distillation=distillation))).eval()


def test_every_timm_variant_is_covered():
    assert set(timm.list_models('repvit*')) == set(TIMM_ARCHS)


@pytest.mark.parametrize('name', [n for n, spec in TIMM_ARCHS.items() if spec is not None])
def test_timm_round_trip(name, tmp_path):
    arch, legacy = TIMM_ARCHS[name]
    src, dst = str(tmp_path / f'{name}.pth'), str(tmp_path / 'converted.pth')
    reference = save_timm(name, src)
    meta = convert_checkpoint('repvit', src, dst)
    assert meta['layout'] == 'timm' and meta['arch'] == arch
    assert meta['legacy_repvggdw'] == legacy and meta['distillation']
    assert meta['num_classes'] == NUM_CLASSES

    model = build_classifier(arch, legacy)
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert relative_error(model(x, mode='tensor'), reference(x)) <= 1e-4


def test_timm_single_head_and_prefixed_file(tmp_path):
    """timm's ``distillation=False`` head, inside a ``{'state_dict': ...}`` training file."""
    src, dst = str(tmp_path / 'timm.pth'), str(tmp_path / 'converted.pth')
    reference = save_timm('repvit_m0_9', src, distillation=False)
    torch.save({'state_dict': torch.load(src, weights_only=True), 'epoch': 3}, src)
    meta = convert_checkpoint('repvit', src, dst)
    assert meta['arch'] == 'm0_9' and not meta['distillation']
    model = build_classifier('m0_9', legacy=False, distillation=False)
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(model(x, mode='tensor'), reference(x)) <= 1e-4


def test_timm_architecture_we_lack_is_refused_in_one_line(tmp_path, capsys):
    src, dst = str(tmp_path / 'repvit_m3.pth'), str(tmp_path / 'out.pth')
    save_timm('repvit_m3', src)
    with pytest.raises(ToolError, match="timm's repvit_m3"):
        convert_checkpoint('repvit', src, dst)

    tool = load_tool('convert_ckpt.py')
    with command_line('tools/convert_ckpt.py', ['repvit', src, dst]):
        assert tool.main() == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and 'repvit_m3' in lines[0] and 'depth (4, 4, 18, 2)' in lines[0]
    assert not osp.exists(dst)
