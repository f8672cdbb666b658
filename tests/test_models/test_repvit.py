"""RepViT: shapes, freezing, parameter counts, fusion, official fixtures and the converter."""
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn

from mmmobile import convert_checkpoint, switch_to_deploy
from mmmobile.models import RepViT, RepViTClsHead
from mmmobile.models.backbones.repvit import RepVGGDW, alternating_se_pattern
from .utils import (check_norm_state, count_parameters, fused_and_stock_outputs,
                    official_fixture, randomize_bn_statistics, relative_error)

TINY_ARCH = dict(channels=[16, 24, 32, 40], num_blocks=[2, 1, 2, 1])

# Official parameter counts (fused: backbone + one fused Linear; training: both BN_Linear heads).
FUSED_PARAMS = {
    'm0_6': 2_468_072, 'm0_9': 5_067_056, 'm1_0': 6_810_312,
    'm1_1': 8_244_312, 'm1_5': 14_049_992, 'm2_3': 22_926_792,
}
TRAIN_PARAMS = {  # current RepVGGDW, legacy RepVGGDW
    'm0_6': (2_808_932, 2_806_932), 'm0_9': (5_489_328, 5_485_248),
    'm1_0': (7_302_796, 7_298_036), 'm1_1': (8_802_912, 8_797_984),
    'm1_5': (14_644_432, 14_635_024), 'm2_3': (23_688_792, 23_674_632),
}


class Classifier(nn.Module):
    """Backbone + global average pooling + RepViT head (the ImageClassifier path, bare)."""

    def __init__(self, backbone: RepViT, head: RepViTClsHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        feat = self.backbone(x)[-1].mean((2, 3))
        return self.head((feat, ))


def build_classifier(arch, deploy=False, legacy=False, distillation=True, num_classes=1000):
    backbone = RepViT(arch, out_indices=(3, ), deploy=deploy, legacy_repvggdw=legacy)
    head = RepViTClsHead(num_classes, backbone.out_channels[-1], distillation=distillation,
                         deploy=deploy)
    return Classifier(backbone, head)


def test_se_pattern_matches_official_table():
    # The official config tables, written out per stage (repvit.md section 3).
    assert alternating_se_pattern([3, 3, 15, 2]) == [
        [True, False, False], [True, False, False],
        [bool(int(c)) for c in '101010101010100'], [True, False]]
    assert alternating_se_pattern([2, 2, 9, 1])[2] == [bool(int(c)) for c in '101010100']
    assert alternating_se_pattern([5, 5, 25, 4])[3] == [True, False, True, False]


@pytest.mark.parametrize('out_taps', ['stage_end', 'before_downsample'])
@pytest.mark.parametrize('out_indices', [(0, ), (3, ), (0, 1, 2, 3), (1, 3), -1])
def test_output_shapes(out_indices, out_taps):
    model = RepViT(TINY_ARCH, out_indices=out_indices, out_taps=out_taps).eval()
    outs = model(torch.rand(1, 3, 64, 96))
    expected = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    expected = [i % 4 for i in expected]
    assert len(outs) == len(expected)
    for out, index in zip(outs, expected):
        stride = 4 * 2**index
        assert out.shape == (1, TINY_ARCH['channels'][index], 64 // stride, 96 // stride)


@pytest.mark.parametrize('size', [(33, 47), (65, 65), (97, 31)])
def test_any_input_size(size):
    model = RepViT(TINY_ARCH).eval()
    outs = model(torch.rand(2, 3, *size))
    for index, out in enumerate(outs):
        height, width = size
        for _ in range(index + 2):
            height, width = (height + 1) // 2, (width + 1) // 2
        assert out.shape[2:] == (height, width)
        assert torch.isfinite(out).all()


def test_out_taps_select_official_detection_features():
    """'before_downsample' taps the block before the last stride-1 block of stages 0-2."""
    model = RepViT(TINY_ARCH, out_indices=(0, 1, 2, 3), out_taps='before_downsample').eval()
    stage_end = RepViT(TINY_ARCH, out_indices=(0, 1, 2, 3)).eval()
    stage_end.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 64, 64)
    early, late = model(x), stage_end(x)
    with torch.no_grad():
        manual = model.stem(x)
        taps = []
        for stage in model.stages:
            for block in stage[:-1]:
                manual = block(manual)
            taps.append(manual)
            manual = stage[-1](manual)
    for i in range(3):
        assert torch.equal(early[i], taps[i])
        assert not torch.equal(early[i], late[i])
    assert torch.equal(early[3], late[3])


def test_invalid_arguments():
    with pytest.raises(ValueError, match='Unknown RepViT arch'):
        RepViT('m9_9')
    with pytest.raises(TypeError):
        RepViT(['m1_1'])
    with pytest.raises(ValueError, match='missing'):
        RepViT(dict(channels=[8, 16, 24, 32]))
    with pytest.raises(ValueError, match='out_indices'):
        RepViT(TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='out_taps'):
        RepViT(TINY_ARCH, out_taps='middle')
    with pytest.raises(ValueError, match='frozen_stages'):
        RepViT(TINY_ARCH, frozen_stages=7)


def test_frozen_stages_and_norm_eval():
    model = RepViT(TINY_ARCH, frozen_stages=2)
    model.train()
    for module in [model.stem, model.stages[0], model.stages[1]]:
        assert not any(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), False)
    for module in [model.stages[2], model.stages[3]]:
        assert all(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), True)
    assert model.train() is model and model.eval() is model

    model = RepViT(TINY_ARCH, norm_eval=True).train()
    assert check_norm_state(model.modules(), False)
    assert all(p.requires_grad for p in model.parameters())
    model = RepViT(TINY_ARCH, norm_eval=False).train()
    assert check_norm_state(model.modules(), True)


@pytest.mark.parametrize('arch', sorted(FUSED_PARAMS))
def test_parameter_counts_match_official(arch):
    for legacy, expected in zip((False, True), TRAIN_PARAMS[arch]):
        model = build_classifier(arch, legacy=legacy)
        assert count_parameters(model) == expected
        switch_to_deploy(model)
        assert count_parameters(model) == FUSED_PARAMS[arch]
    assert count_parameters(build_classifier(arch, deploy=True)) == FUSED_PARAMS[arch]


@pytest.mark.parametrize('legacy', [False, True])
def test_repvggdw_fuse(legacy):
    block = randomize_bn_statistics(RepVGGDW(8, legacy=legacy)).double().eval()
    for param in block.parameters():
        param.data.normal_()
    x = torch.randn(2, 8, 9, 11, dtype=torch.float64)
    expected = block(x)
    block.switch_to_deploy()
    assert block.deploy and not hasattr(block, 'conv') and not hasattr(block, 'bn')
    assert relative_error(block(x), expected) <= 1e-12


@pytest.mark.parametrize('legacy', [False, True])
@pytest.mark.parametrize('distillation', [False, True])
def test_classifier_fuse_equivalence(legacy, distillation):
    torch.manual_seed(0)
    model = build_classifier(TINY_ARCH, legacy=legacy, distillation=distillation,
                             num_classes=10)
    for param in model.parameters():  # random weights everywhere (BN gammas are zero-init)
        param.data.normal_(0, 0.2)
    model = randomize_bn_statistics(model, seed=1).double().eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    expected = model(x)
    switch_to_deploy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert relative_error(model(x), expected) <= 1e-5

    # The fused weights load strictly into the model built with deploy=True.
    deployed = build_classifier(TINY_ARCH, deploy=True, num_classes=10).double().eval()
    deployed.load_state_dict(model.state_dict(), strict=True)
    assert relative_error(deployed(x), expected) <= 1e-5


def test_deploy_form_fused_path_equals_stock_ops():
    """The deploy form through oneDNN == the same model on the stock ops (float32, odd size)."""
    torch.manual_seed(0)
    model = RepViT(TINY_ARCH)
    for param in model.parameters():
        param.data.normal_(0, 0.2)
    model = switch_to_deploy(randomize_bn_statistics(model).eval())
    # The keys of fused checkpoints (written by every version so far) stay the same.
    keys = model.state_dict().keys()
    assert {'stem.0.conv.weight', 'stem.2.conv.bias', 'stages.0.0.token_mixer.fused.weight',
            'stages.1.0.dw_conv.conv.weight', 'stages.1.0.ffn.pw_project.conv.bias'} <= keys
    x = torch.randn(1, 3, 33, 47)
    for channels_last in (False, True):
        model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        fused, stock, fused_calls = fused_and_stock_outputs(model, x)
        blocks, downsamples = sum(TINY_ARCH['num_blocks']), len(TINY_ARCH['num_blocks']) - 1
        assert fused_calls == 2 + 3 * blocks + 4 * downsamples  # every convolution but SE's
        for a, b in zip(fused, stock):
            assert relative_error(a, b) <= 1e-5


def test_head_train_returns_mean_of_both_losses():
    head = RepViTClsHead(5, 16)
    feats = (torch.randn(4, 16), )
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 5) for i in range(4)]
    loss = head.loss(feats, samples)['loss']
    targets = torch.arange(4) % 5
    logits = head.branch_logits(feats)
    expected = sum(nn.functional.cross_entropy(lg, targets) for lg in logits) / 2
    assert torch.allclose(loss, expected, rtol=1e-6)
    head.eval()
    logits = head.branch_logits(feats)
    assert torch.allclose(head(feats), (logits[0] + logits[1]) / 2)


def test_with_cp_and_drop_path():
    torch.manual_seed(0)
    model = RepViT(TINY_ARCH, drop_path_rate=0.2)
    drop_rates = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    assert len(drop_rates) == sum(TINY_ARCH['num_blocks']) + 2  # stage 0 block 0 has rate 0
    assert max(drop_rates) == pytest.approx(0.2)

    plain = RepViT(TINY_ARCH).train()
    checkpointed = RepViT(TINY_ARCH, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    for model in (plain, checkpointed):
        sum(o.sum() for o in model(x)).backward()
    for p1, p2 in zip(plain.parameters(), checkpointed.parameters()):
        assert torch.allclose(p1.grad, p2.grad, rtol=1e-4, atol=1e-6)


def _official_legacy_keys(state_dict):
    """Rename a legacy-form mmmobile classifier state dict to the official layout (test oracle).

    Written independently of the converter: walks our module order and emits official names.
    """
    official = {}
    feature_of = {}
    index = 1
    stage_blocks = sorted({tuple(map(int, m.groups())) for k in state_dict
                           if (m := re.match(r'backbone\.stages\.(\d+)\.(\d+)\.', k))})
    for stage, block in stage_blocks:
        feature_of[(stage, block)] = index
        index += 1
    for key, value in state_dict.items():
        if key.startswith('backbone.stem.'):
            new = 'features.0.' + key[len('backbone.stem.'):].replace('.conv.', '.c.')
        elif key.startswith('head.'):
            new = key.replace('head.head_dist.', 'classifier.classifier_dist.').replace(
                'head.head.', 'classifier.classifier.').replace('.linear.', '.l.')
        else:
            stage, block, rest = re.match(r'backbone\.stages\.(\d+)\.(\d+)\.(.+)', key).groups()
            prefix = f'features.{feature_of[(int(stage), int(block))]}.'
            for ours, theirs in [('token_mixer.conv.conv.', 'token_mixer.0.conv.c.'),
                                 ('token_mixer.conv.bn.', 'token_mixer.0.conv.bn.'),
                                 ('token_mixer.conv1.conv.', 'token_mixer.0.conv1.c.'),
                                 ('token_mixer.conv1.bn.', 'token_mixer.0.conv1.bn.'),
                                 ('se.', 'token_mixer.1.'),
                                 ('dw_conv.conv.', 'token_mixer.0.c.'),
                                 ('dw_conv.bn.', 'token_mixer.0.bn.'),
                                 ('pw_conv.conv.', 'token_mixer.2.c.'),
                                 ('pw_conv.bn.', 'token_mixer.2.bn.'),
                                 ('ffn.pw_expand.conv.', 'channel_mixer.m.0.c.'),
                                 ('ffn.pw_expand.bn.', 'channel_mixer.m.0.bn.'),
                                 ('ffn.pw_project.conv.', 'channel_mixer.m.2.c.'),
                                 ('ffn.pw_project.bn.', 'channel_mixer.m.2.bn.')]:
                if rest.startswith(ours):
                    rest = theirs + rest[len(ours):]
                    break
            new = prefix + rest
        official[new] = value
    return official


def test_converter_legacy_form_round_trip(tmp_path):
    model = build_classifier('m0_9', legacy=True)
    randomize_bn_statistics(model)
    src = tmp_path / 'repvit_m1_distill_300.pth'
    torch.save({'model': _official_legacy_keys(model.state_dict())}, src)
    meta = convert_checkpoint('repvit', str(src), str(tmp_path / 'converted.pth'))
    assert meta['legacy_repvggdw'] and meta['distillation'] and meta['num_classes'] == 1000
    assert meta['num_blocks'] == RepViT.arch_settings['m0_9']['num_blocks']
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)['state_dict']
    assert converted.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(converted[key], value), key


def test_official_m0_6_logits(official_fixtures, tmp_path):
    """Converted official checkpoint -> same logits as the official model (fixture)."""
    entry, expected = official_fixture(official_fixtures, 'repvit-m0.6')
    dst = tmp_path / 'repvit-m0.6.pth'
    meta = convert_checkpoint('repvit', osp.join(official_fixtures, entry['checkpoint']), str(dst))
    assert not meta['legacy_repvggdw']
    model = build_classifier('m0_6', legacy=meta['legacy_repvggdw'])
    assert count_parameters(model) == entry['official_params']
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(expected['input'])
        assert relative_error(logits, expected['logits']) <= 1e-4
        switch_to_deploy(model)
        assert relative_error(model(expected['input']), expected['logits']) <= 1e-4
