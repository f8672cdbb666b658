"""RepLKNet: shapes, freezing, parameter counts, re-parameterization, the fast CPU layout,
official fixtures and the converter (official and mmpretrain layouts)."""
import copy
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmobile import convert_checkpoint, switch_to_deploy
from mmmobile.models import RepLKNet
from mmmobile.models.layers.large_kernel import (DepthwiseConv2d, ReparamLargeKernelConv,
                                                 depthwise_conv2d, prefers_channels_last,
                                                 run_in_fast_layout)
from mmmobile.models.layers.onednn import (conv2d_act, onednn_fusion_usable,
                                           set_onednn_fusion)
from ..conftest import REPO_ROOT
from .utils import check_norm_state, count_parameters, randomize_bn_statistics, relative_error

# The official kernel sizes on a tiny width, so every layout decision of 31B is exercised.
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


# ------------------------------------------------------------------- fast CPU layout


def test_layout_table_decisions():
    # Inference (measured): 17x17 and larger kernels are many times faster channels_last at
    # every size; 13x13 on larger maps is faster in NCHW.
    for kernel, size in [(31, 56), (29, 28), (27, 14), (27, 80), (31, 200), (17, 7)]:
        assert prefers_channels_last(kernel, size, size)
    assert not prefers_channels_last(13, 25, 42)
    assert not prefers_channels_last(13, 14, 14)
    # Training steps (forward + backward): channels_last's backward is slow for 31x31 on 56x56
    # and for 13x13 on 7x7.
    assert not prefers_channels_last(31, 56, 56, backward=True)
    assert prefers_channels_last(27, 14, 14, backward=True)
    assert not prefers_channels_last(13, 7, 7, backward=True)

    # A re-measured table (another machine) replaces the built-in one.
    from mmmobile.models.layers import large_kernel
    saved = copy.deepcopy(large_kernel.DEPTHWISE_LAYOUT_TABLE)
    try:
        large_kernel.set_depthwise_layout_table({31: {56: 0.5}})
        assert not prefers_channels_last(31, 56, 56) and not prefers_channels_last(3, 7, 7)
        with pytest.raises(ValueError):
            large_kernel.set_depthwise_layout_table({})
    finally:
        large_kernel.set_depthwise_layout_table(saved)
    assert prefers_channels_last(31, 56, 56)


@pytest.mark.parametrize('kernel,size,stride', [
    (31, (56, 56), 1), (29, 28, 1), (27, (14, 20), 1), (13, (7, 7), 1), (13, (30, 30), 1),
    (5, (17, 9), 1), (3, (40, 40), 2), (21, (9, 33), 2)])
@pytest.mark.parametrize('channels_last_input', [False, True])
def test_fast_depthwise_equals_stock(kernel, size, stride, channels_last_input):
    """The fast path equals F.conv2d (rel. err <= 1e-5 in float32) and keeps the layout."""
    generator = torch.Generator().manual_seed(kernel)
    size = (size, size) if isinstance(size, int) else size
    x = torch.randn(2, 16, *size, generator=generator)
    if channels_last_input:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(16, 1, kernel, kernel, generator=generator) / kernel
    bias = torch.randn(16, generator=generator)
    expected = F.conv2d(x.contiguous().double(), weight.double(), bias.double(), stride,
                        kernel // 2, 1, 16)
    stock = F.conv2d(x.contiguous(), weight, bias, stride, kernel // 2, 1, 16)
    fast = depthwise_conv2d(x, weight, bias, stride, kernel // 2)
    assert relative_error(fast, stock) <= 1e-5
    assert relative_error(fast.double(), expected) <= 1e-5
    assert fast.is_contiguous(
        memory_format=torch.channels_last if channels_last_input else torch.contiguous_format)


def test_fast_layout_gradients_equal_stock():
    x = torch.randn(1, 8, 28, 28, requires_grad=True)
    conv = DepthwiseConv2d(8, 29, bias=True)
    reference = nn.Conv2d(8, 8, 29, padding=14, groups=8)
    reference.load_state_dict(conv.state_dict())
    out_fast = conv(x)
    grad_fast = torch.autograd.grad(out_fast.square().sum(), [x, conv.weight])
    out_stock = reference(x)
    grad_stock = torch.autograd.grad(out_stock.square().sum(), [x, reference.weight])
    assert relative_error(out_fast, out_stock) <= 1e-5
    for fast, stock in zip(grad_fast, grad_stock):
        assert relative_error(fast, stock) <= 1e-5


def test_run_in_fast_layout_converts_only_when_needed():
    seen, pointers = [], []

    def record(t):
        seen.append(t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous())
        pointers.append(t.data_ptr())
        return t * 2

    nchw = torch.randn(1, 4, 56, 56)
    out = run_in_fast_layout(nchw, 31, record)  # 31x31 on 56x56: channels_last
    assert seen == [True] and out.is_contiguous()
    cl = torch.randn(1, 4, 28, 28).contiguous(memory_format=torch.channels_last)
    out = run_in_fast_layout(cl, 13, record)  # 13x13 on 28x28: NCHW
    assert seen == [True, False] and out.is_contiguous(memory_format=torch.channels_last)
    out = run_in_fast_layout(cl, 27, record)  # already in the right layout: no copy
    assert seen == [True, False, True] and pointers[-1] == cl.data_ptr()
    assert out.is_contiguous(memory_format=torch.channels_last)
    run_in_fast_layout(nchw.requires_grad_(), 31, record)  # training step: NCHW
    assert seen[-1] is False


def test_backbone_fast_path_equals_stock_ops():
    """Unfused and fused, the CPU fast path gives the stock result (float32, 224x224)."""
    fast = random_weights(RepLKNet(TINY_ARCH, final_norm=True)).eval()
    stock = RepLKNet(TINY_ARCH, final_norm=True, cpu_fast_path=False).eval()
    stock.load_state_dict(fast.state_dict())
    assert not any(getattr(m, 'cpu_fast_path', False) for m in stock.modules())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = stock(x)
        for a, b in zip(fast(x), expected):
            assert relative_error(a, b) <= 1e-5
        switch_to_deploy(fast)
        switch_to_deploy(stock)
        assert not any(getattr(m, 'cpu_fast_path', False) for m in stock.modules())
        for a, b in zip(fast(x), stock(x)):
            assert relative_error(a, b) <= 1e-5
        for a, b in zip(fast(x), expected):
            assert relative_error(a, b) <= 1e-5


# ------------------------------------------------------------- oneDNN fused inference


@pytest.fixture
def onednn():
    if not torch.backends.mkldnn.is_available():
        pytest.skip('this PyTorch build has no oneDNN (mkldnn)')
    set_onednn_fusion(True)
    with torch.no_grad():
        assert onednn_fusion_usable(torch.zeros(1, 1, 1, 1)), 'the self check failed'
    yield
    set_onednn_fusion(True)


@pytest.mark.parametrize('act,with_residual', [('relu', False), ('gelu', False), ('none', True)])
@pytest.mark.parametrize('kernel,stride,groups', [(1, 1, 1), (3, 2, 1), (3, 1, 'dw'),
                                                  (27, 1, 'dw'), (13, 1, 'dw')])
@pytest.mark.parametrize('channels_last', [False, True])
def test_onednn_conv2d_act_equals_stock(onednn, act, with_residual, kernel, stride, groups,
                                        channels_last):
    channels = 24
    groups = channels if groups == 'dw' else groups
    conv = random_weights(nn.Conv2d(channels, channels, kernel, stride, kernel // 2,
                                    groups=groups))
    x = torch.randn(2, channels, 14, 19)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    reference = conv.double()(x.double())
    conv.float()
    residual = torch.randn_like(reference).float() if with_residual else None
    reference = {'relu': F.relu, 'gelu': F.gelu, 'none': lambda t: t}[act](reference)
    if with_residual:
        reference = reference + residual.double()
    with torch.no_grad():
        out = conv2d_act(x, conv, act, residual)
    assert out.shape == reference.shape
    assert relative_error(out.double(), reference) <= 1e-5


def test_onednn_packed_weight_follows_changes(onednn):
    conv = nn.Conv2d(16, 32, 1)
    x = torch.randn(1, 16, 9, 9)

    def check(inp):
        with torch.no_grad():
            assert relative_error(conv2d_act(inp, conv, 'relu'), F.relu(conv(inp))) <= 1e-5

    check(x)
    conv.load_state_dict({'weight': torch.randn(32, 16, 1, 1), 'bias': torch.randn(32)})
    check(x)
    conv.weight.data.copy_(torch.randn(32, 16, 1, 1))  # bypasses the version counter
    check(x)
    conv.weight = nn.Parameter(torch.randn(32, 16, 1, 1))
    check(x)
    check(torch.randn(2, 16, 5, 7))  # another input shape


def test_onednn_only_where_safe(onednn):
    conv = nn.Conv2d(8, 8, 1)
    x = torch.randn(1, 8, 5, 5)
    assert not onednn_fusion_usable(x)  # autograd on: stock ops, gradients flow
    assert conv2d_act(x, conv, 'relu').requires_grad
    with torch.no_grad():
        assert onednn_fusion_usable(x)
        assert not onednn_fusion_usable(x.double())
        set_onednn_fusion(False)
        assert not onednn_fusion_usable(x)
        set_onednn_fusion(True)
    with pytest.raises(ValueError):
        conv2d_act(x, conv, 'relu', residual=x)

    # Tracing (ONNX/TorchScript export, FLOP counters) sees ordinary convolutions.
    model = random_weights(RepLKNet(TINY_ARCH, out_indices=(3, ))).eval()
    switch_to_deploy(model)
    inputs = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs)
        assert 'mkldnn::_convolution_pointwise' not in str(traced.inlined_graph)
        assert relative_error(traced(inputs)[0], model(inputs)[0]) <= 1e-5


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


def _fixture(official_fixtures, name):
    with open(osp.join(official_fixtures, 'index.json')) as f:
        entry = {e['name']: e for e in json.load(f)}[name]
    expected = torch.load(osp.join(official_fixtures, entry['expected']), weights_only=True)
    return entry, expected


def test_official_tiny_logits(official_fixtures, tmp_path):
    """Converted official checkpoint -> the official logits, unmerged, merged and fused."""
    entry, expected = _fixture(official_fixtures, 'replknet-tiny')
    args = entry['official_constructor_args']
    arch = {k: args[k] for k in RepLKNet._arch_keys}
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
    with pytest.raises(ValueError, match='not a RepLKNet checkpoint'):
        convert_checkpoint('replknet', str(src), str(tmp_path / 'out.pth'))


# -------------------------------------------------------------------------- tools


def test_speed_comparison_agrees_with_mmpretrain():
    """The benchmark's candidates compute the same function (tiny arch, one timed round)."""
    from mmmobile.benchmark.replknet_speed import REFERENCE, replknet_cpu_speed, speed_table
    result = replknet_cpu_speed(TINY_ARCH, input_size=64, threads=1, warmup=0, repeats=1,
                                with_stock_ops=True)
    names = [row['name'] for row in result['rows']]
    assert names == ['mmmobile fused', 'mmmobile unfused', 'mmmobile fused, stock ops',
                     'mmpretrain unmerged, channels_last', 'mmpretrain deploy, NCHW', REFERENCE]
    assert result['max_relative_error'] <= 1e-5
    assert REFERENCE in speed_table(result)


@pytest.mark.parametrize('backward', [False, True])
def test_layout_table_measurement(backward):
    from mmmobile.benchmark.replknet_speed import layout_table
    from mmmobile.models.layers.large_kernel import measure_depthwise_layouts
    table = measure_depthwise_layouts((3, 17), (7, 9), channels=8, repeats=1, threads=1,
                                      backward=backward)
    assert set(table) == {3, 17} and all(set(row) == {7, 9} for row in table.values())
    assert all(ratio > 0 for row in table.values() for ratio in row.values())
    text = layout_table((5, ), (6, ), channels=4, repeats=1, threads=1, backward=backward)
    assert text.splitlines()[0] == '| kernel \\ map | 6x6 |' and text.splitlines()[2][:5] == '| 5 |'


def test_speed_tool_help():
    tool = osp.join(REPO_ROOT, 'tools', 'analysis', 'replknet_cpu_speed.py')
    result = subprocess.run([sys.executable, tool, '--help'], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and '--repeats' in result.stdout
