"""RepLKNet: shapes, freezing, parameter counts, re-parameterization, the fused inference
path, official fixtures and the converter (official and mmpretrain layouts)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from mmmobile import convert_checkpoint, switch_to_deploy
from mmmobile.models import RepLKNet
from mmmobile.models.layers.large_kernel import ReparamLargeKernelConv
from mmmobile.utils import ToolError
from ..conftest import REPO_ROOT
from .utils import (check_norm_state, count_parameters, fused_and_stock_outputs,
                    official_fixture, randomize_bn_statistics, relative_error)

# The official kernel sizes on a tiny width.
TINY_ARCH = dict(large_kernel_sizes=[31, 29, 27, 13], layers=[1, 1, 2, 1],
                 channels=[8, 16, 24, 32], small_kernel=5, dw_ratio=1, ffn_ratio=2)
TINY_XL = dict(TINY_ARCH, large_kernel_sizes=[27, 27, 27, 13], small_kernel=None, dw_ratio=1.5)

# Official counts (reference sheet): training form with the 1000-class head, and after the
# official structural_reparam (large and small kernels merged, other BNs kept).
TRAIN_PARAMS = {'31B': 79_864_168, '31L': 172_671_016, 'XL': 335_435_752}
LK_MERGED_PARAMS = {'31B': 79_527_272, '31L': 172_165_672, 'XL': 335_399_656}
# Computed in the reference: all conv-BN pairs folded (pre-norm BNs and final norm kept), and
# the backbone alone with the official norm_intermediate_features=True.
CONV_BN_FOLDED_PARAMS = {'31B': 79_438_952, '31L': 172_033_192, 'XL': 335_210_984}
INTERMEDIATE_NORM_BACKBONE = {'31B': 78_840_960, '31L': 171_136_704, 'XL': 333_390_336}


def random_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere and random BN statistics, so no fusion error can hide."""
    generator = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        param.data.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return randomize_bn_statistics(model, seed=seed + 1)


def classifier_params(arch: str, **kwargs) -> int:
    """Parameters of backbone (final norm) + 1000-class Linear, built on the meta device."""
    with torch.device('meta'):
        backbone = RepLKNet(arch, out_indices=(3, ), final_norm=True, **kwargs)
    return count_parameters(backbone) + backbone.out_channels[-1] * 1000 + 1000


# ----------------------------------------------------------------------------- backbone


@pytest.mark.parametrize('out_indices', [(0, ), (3, ), (0, 1, 2, 3), (1, 3), -1])
def test_output_shapes(out_indices):
    model = RepLKNet(TINY_ARCH, out_indices=out_indices).eval()
    outs = model(torch.rand(1, 3, 64, 96))
    expected = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    expected = [i % 4 for i in expected]
    assert len(outs) == len(expected)
    for out, index in zip(outs, expected):
        stride = 4 * 2**index
        assert out.shape == (1, TINY_ARCH['channels'][index], 64 // stride, 96 // stride)
        assert out.is_contiguous()


@pytest.mark.parametrize('size', [(33, 47), (97, 31), (224, 224)])
def test_any_input_size(size):
    model = RepLKNet(TINY_XL, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    height, width = size
    for out in outs:
        height, width = (height + 1) // 2, (width + 1) // 2
        if out is outs[0]:
            height, width = (height + 1) // 2, (width + 1) // 2
        assert out.shape[2:] == (height, width)
        assert torch.isfinite(out).all()


def test_invalid_arguments():
    with pytest.raises(ValueError, match='Unknown RepLKNet arch'):
        RepLKNet('31X')
    with pytest.raises(TypeError):
        RepLKNet(['31B'])
    with pytest.raises(ValueError, match='missing'):
        RepLKNet(dict(channels=[8, 16, 24, 32]))
    with pytest.raises(ValueError, match='same length'):
        RepLKNet(dict(TINY_ARCH, layers=[1, 1, 1]))
    with pytest.raises(ValueError, match='out_indices'):
        RepLKNet(TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        RepLKNet(TINY_ARCH, frozen_stages=5)
    with pytest.raises(ValueError, match='small_kernel'):
        RepLKNet(dict(TINY_ARCH, small_kernel=4))


def test_frozen_stages_and_norm_eval():
    model = RepLKNet(TINY_ARCH, frozen_stages=2)
    model.train()
    frozen = [model.stem, model.stages[0], model.stages[1], model.transitions[0]]
    trainable = [model.stages[2], model.stages[3], model.transitions[1], model.transitions[2]]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), False)
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), True)
    assert model.train() is model and model.eval() is model

    model = RepLKNet(TINY_ARCH, norm_eval=True).train()
    assert check_norm_state(model.modules(), False)
    assert all(p.requires_grad for p in model.parameters())
    assert check_norm_state(RepLKNet(TINY_ARCH).train().modules(), True)


def test_stage_norms():
    plain = RepLKNet(TINY_ARCH)
    assert all(isinstance(stage.norm, nn.Identity) for stage in plain.stages)
    final = RepLKNet(TINY_ARCH, final_norm=True)
    assert [isinstance(s.norm, nn.BatchNorm2d) for s in final.stages] == [False] * 3 + [True]
    every = random_weights(RepLKNet(TINY_ARCH, norm_intermediate_features=True)).eval()
    assert all(isinstance(stage.norm, nn.BatchNorm2d) for stage in every.stages)
    # The norm applies to the returned map only: the next stage sees the un-normalized one.
    plain.load_state_dict({k: v for k, v in every.state_dict().items() if '.norm.' not in k})
    plain.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for ours, reference, stage in zip(every(x), plain(x), every.stages):
            assert relative_error(ours, stage.norm(reference)) <= 1e-6


@pytest.mark.parametrize('arch', sorted(TRAIN_PARAMS))
def test_parameter_counts_match_official(arch):
    assert classifier_params(arch) == TRAIN_PARAMS[arch]
    with torch.device('meta'):
        backbone = RepLKNet(arch, out_indices=(3, ), final_norm=True)
        backbone.merge_large_kernels()
        head = backbone.out_channels[-1] * 1000 + 1000
        assert count_parameters(backbone) + head == LK_MERGED_PARAMS[arch]
        backbone.switch_to_deploy()
        deployed = count_parameters(backbone)
        assert deployed == count_parameters(
            RepLKNet(arch, out_indices=(3, ), final_norm=True, deploy=True))
        intermediate = RepLKNet(arch, norm_intermediate_features=True)
        assert count_parameters(intermediate) == INTERMEDIATE_NORM_BACKBONE[arch]
    # Our deploy form also folds the pre-norm BNs (2 * C parameters per block) into the 1x1
    # convs that follow them.
    channels, layers = RepLKNet.arch_settings[arch]['channels'], [2, 2, 18, 2]
    pre_norms = sum(2 * c * 2 * n for c, n in zip(channels, layers))
    assert deployed + head == CONV_BN_FOLDED_PARAMS[arch] - pre_norms


def test_get_layer_depth_follows_official_grouping():
    with torch.device('meta'):
        model = RepLKNet('31B', out_indices=(3, ), final_norm=True)
    depth = {name: model.get_layer_depth('backbone.' + name, 'backbone.')
             for name, _ in model.named_parameters()}
    assert {d[1] for d in depth.values()} == {14}
    assert depth['stem.0.conv.weight'][0] == 0
    assert depth['stages.0.blocks.3.pw1.conv.weight'][0] == 1
    assert depth['transitions.0.1.conv.weight'][0] == 1
    assert depth['stages.1.blocks.0.prelkb_bn.weight'][0] == 2
    assert depth['transitions.1.0.conv.weight'][0] == 2
    assert depth['stages.2.blocks.3.pw2.conv.weight'][0] == 3
    assert depth['stages.2.blocks.4.pw1.conv.weight'][0] == 4
    assert depth['stages.2.blocks.35.pw2.bn.bias'][0] == 11
    assert depth['transitions.2.1.bn.weight'][0] == 11
    assert depth['stages.3.blocks.0.large_kernel.lkb_origin.conv.weight'][0] == 12
    assert depth['stages.3.norm.weight'][0] == 13  # the official final ``norm``
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (13, 14)


def test_with_cp_and_drop_path():
    model = RepLKNet(TINY_ARCH, drop_path_rate=0.3)
    rates = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    assert len(rates) == 2 * (sum(TINY_ARCH['layers']) - 1)  # the first pair has rate 0
    assert max(rates) == pytest.approx(0.3)
    assert rates[0] == rates[1]  # both blocks of a pair share the rate, as officially

    torch.manual_seed(0)
    plain = RepLKNet(TINY_ARCH).train()
    checkpointed = RepLKNet(TINY_ARCH, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    for model in (plain, checkpointed):
        sum(o.sum() for o in model(x)).backward()
    for p1, p2 in zip(plain.parameters(), checkpointed.parameters()):
        assert relative_error(p2.grad, p1.grad) <= 1e-5


# ----------------------------------------------------------- re-parameterization


@pytest.mark.parametrize('kernel,small,stride,padding', [
    (31, 5, 1, None), (13, 5, 1, None), (7, 3, 2, None), (9, 5, 1, 2), (9, 3, 1, 6),
    (27, None, 1, None), (13, None, 2, 3)])
def test_large_kernel_merge_any_padding(kernel, small, stride, padding):
    """Merged conv == both branches, for "same" and other paddings and strides."""
    block = ReparamLargeKernelConv(6, kernel, small, stride=stride, padding=padding)
    block = random_weights(block).double().eval()
    x = torch.randn(2, 6, 19, 23, dtype=torch.float64)
    expected = block(x)
    block.switch_to_deploy()
    assert block.deploy and not hasattr(block, 'lkb_origin') and not hasattr(block, 'small_conv')
    merged = block.lkb_reparam
    assert merged.padding == ((kernel // 2, ) * 2 if padding is None else (padding, padding))
    out = block(x)
    assert out.shape == expected.shape
    assert relative_error(out, expected) <= 1e-12
    block.switch_to_deploy()  # idempotent
    assert relative_error(block(x), expected) <= 1e-12

    direct = ReparamLargeKernelConv(6, kernel, small, stride=stride, padding=padding,
                                    deploy=True).double()
    direct.load_state_dict(block.state_dict(), strict=True)
    assert relative_error(direct(x), expected) <= 1e-12


def test_large_kernel_rejects_unalignable_padding():
    with pytest.raises(ValueError, match='too small'):
        ReparamLargeKernelConv(4, 13, 5, padding=3)
    block = ReparamLargeKernelConv(4, 13, 5)
    block.small_conv.conv.padding = (1, 1)  # misaligned by hand: refuse to merge silently
    with pytest.raises(RuntimeError, match='not aligned'):
        block.switch_to_deploy()


def test_backbone_fuse_equivalence():
    model = RepLKNet(TINY_ARCH, out_indices=(0, 1, 2, 3), final_norm=True)
    model = random_weights(model).double().eval()
    x = torch.randn(2, 3, 64, 80, dtype=torch.float64)
    expected = model(x)
    model.merge_large_kernels()  # the official structural_reparam form
    assert all(relative_error(o, e) <= 1e-10 for o, e in zip(model(x), expected))
    switch_to_deploy(model)
    assert model.deploy
    bns = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns == ['stages.3.norm']  # only the norm on the returned map stays
    assert all(relative_error(o, e) <= 1e-10 for o, e in zip(model(x), expected))
    switch_to_deploy(model)  # idempotent

    deployed = RepLKNet(TINY_ARCH, out_indices=(0, 1, 2, 3), final_norm=True,
                        small_kernel_merged=True).double().eval()
    assert deployed.deploy
    deployed.load_state_dict(model.state_dict(), strict=True)
    assert all(relative_error(o, e) <= 1e-10 for o, e in zip(deployed(x), expected))


def test_xl_fuse_equivalence_float32():
    model = random_weights(RepLKNet(TINY_XL, norm_intermediate_features=True)).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        expected = model(x)
        switch_to_deploy(model)
        assert all(relative_error(o, e) <= 1e-5 for o, e in zip(model(x), expected))


# ------------------------------------------------------------- fused inference path


def test_deploy_form_fused_path_equals_stock_ops():
    """The deploy form through oneDNN == the same model on the stock ops (float32, odd size)."""
    model = random_weights(RepLKNet(TINY_ARCH, final_norm=True)).eval()
    switch_to_deploy(model)
    x = torch.randn(1, 3, 33, 47)
    for channels_last in (False, True):
        model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        fused, stock, fused_calls = fused_and_stock_outputs(model, x)
        # stem 4 + transitions 2 x 3 + per pair 5 convolutions (pw1, LK, pw2, pw1, pw2)
        assert fused_calls == 4 + 6 + 5 * sum(TINY_ARCH['layers'])
        for a, b in zip(fused, stock):
            assert relative_error(a, b) <= 1e-5

    # Tracing (ONNX/TorchScript export, FLOP counters) sees ordinary convolutions.
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
    assert 'mkldnn' not in str(traced.inlined_graph)
    assert relative_error(traced(x)[-1], stock[-1]) <= 1e-5


# ------------------------------------------------------ official fixture and converters


class Classifier(nn.Module):
    """Backbone + global average pooling + mmpretrain LinearClsHead (the config's classifier)."""

    def __init__(self, backbone: nn.Module, num_classes: int = 1000) -> None:
        super().__init__()
        from mmpretrain.models.heads import LinearClsHead
        self.backbone = backbone
        self.head = LinearClsHead(num_classes, backbone.out_channels[-1])

    def forward(self, x):
        return self.head((self.backbone(x)[-1].mean((2, 3)), ))


def test_official_tiny_logits(official_fixtures, tmp_path):
    """Converted official checkpoint -> the official logits, unmerged, merged and fused."""
    entry, expected = official_fixture(official_fixtures, 'replknet-tiny')
    args = entry['official_constructor_args']
    arch = {k: args[k] for k in RepLKNet.arch_required_keys}
    dst = tmp_path / 'replknet-tiny.pth'
    meta = convert_checkpoint('replknet', osp.join(official_fixtures, entry['checkpoint']),
                              str(dst))
    assert meta['arch'] == arch and meta['final_norm'] and not meta['deploy']
    assert meta['num_classes'] == args['num_classes'] and meta['layout'] == 'official'
    model = Classifier(RepLKNet(arch, out_indices=(3, ), final_norm=True))
    assert count_parameters(model) == entry['official_params']
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    model.eval()
    with torch.no_grad():
        assert relative_error(model(expected['input']), expected['logits']) <= 1e-4
        model.backbone.merge_large_kernels()
        assert relative_error(model(expected['input']), expected['logits']) <= 1e-4
        switch_to_deploy(model)
        assert relative_error(model(expected['input']), expected['logits']) <= 1e-4


def test_convert_tool_on_official_fixture(official_fixtures, tmp_path):
    """tools/convert_ckpt.py dispatches to the RepLKNet converter (same file as the API)."""
    src = osp.join(official_fixtures, 'replknet-tiny.pth')
    dst = tmp_path / 'cli.pth'
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'convert_ckpt.py'), 'replknet', src,
         str(dst)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'final_norm=True' in result.stdout and 'deploy=False' in result.stdout
    convert_checkpoint('replknet', src, str(tmp_path / 'api.pth'))
    cli = torch.load(dst, weights_only=True)['state_dict']
    api = torch.load(tmp_path / 'api.pth', weights_only=True)['state_dict']
    assert cli.keys() == api.keys() and all(torch.equal(cli[k], api[k]) for k in cli)
    assert 'backbone.stages.3.norm.weight' in cli and 'head.fc.weight' in cli


def _mmpretrain_backbone(arch, **kwargs):
    from mmpretrain.models.backbones import RepLKNet as MMPretrainRepLKNet
    model = MMPretrainRepLKNet(arch, ffn_ratio=arch['ffn_ratio'], **kwargs)
    model.eval()  # returns None in mmpretrain 1.2
    return model


def test_converter_mmpretrain_checkpoints(tmp_path):
    """mmpretrain's RepLKNet (the oracle) -> converter -> ours: same outputs, both forms."""
    torch.manual_seed(0)
    theirs = _mmpretrain_backbone(TINY_ARCH, out_indices=(3, ))
    random_weights(theirs)
    head = {'head.fc.weight': torch.randn(10, 32), 'head.fc.bias': torch.randn(10)}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)[-1]
    for merged in (False, True):
        if merged:
            theirs.switch_to_deploy()
        state = {f'backbone.{k}': v for k, v in theirs.state_dict().items()}
        src = tmp_path / f'mmpretrain_{merged}.pth'
        torch.save({'meta': {}, 'state_dict': dict(state, **head)}, src)
        dst = tmp_path / f'converted_{merged}.pth'
        meta = convert_checkpoint('replknet', str(src), str(dst))
        assert meta['layout'] == 'mmpretrain' and meta['deploy'] == merged
        assert meta['final_norm'] and meta['num_classes'] == 10
        ours = Classifier(RepLKNet(TINY_ARCH, out_indices=(3, ), final_norm=True,
                                   deploy=meta['deploy']), num_classes=10).eval()
        ours.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
        with torch.no_grad():
            assert relative_error(ours.backbone(x)[-1], expected) <= 1e-5


def test_converter_official_downstream_and_xl_layout(tmp_path):
    """Official mmdet/mmseg files: backbone keys only, XL stage norms kept, arch inferred."""
    official = RepLKNet(TINY_XL, norm_intermediate_features=True)
    state = {f'backbone.{k}': v for k, v in official.state_dict().items()}
    state['decode_head.conv_seg.weight'] = torch.zeros(3, 8, 1, 1)
    src = tmp_path / 'upernet.pth'
    torch.save({'meta': {}, 'state_dict': state}, src)
    meta = convert_checkpoint('replknet', str(src), str(tmp_path / 'out.pth'))
    assert meta['layout'] == 'downstream' and meta['norm_intermediate_features']
    assert not meta['final_norm'] and meta['num_classes'] is None
    assert meta['arch'] == TINY_XL and meta['arch_name'] is None
    converted = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert converted.keys() == state.keys() - {'decode_head.conv_seg.weight'}

    with torch.device('meta'):
        xl = RepLKNet('XL', out_indices=(3, ), final_norm=True)
    from mmmobile.converters.replknet import _arch_name, infer_arch
    arch = infer_arch(xl.state_dict())
    assert arch == RepLKNet.arch_settings['XL'] and _arch_name(arch, merged=False) == 'XL'


def test_converter_rejects_other_checkpoints(tmp_path):
    src = tmp_path / 'other.pth'
    torch.save({'model': {'features.0.c.weight': torch.zeros(1)}}, src)
    with pytest.raises(ToolError, match='not a RepLKNet checkpoint'):
        convert_checkpoint('replknet', str(src), str(tmp_path / 'out.pth'))
