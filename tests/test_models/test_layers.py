"""Shared layers: the re-parameterization math and the deploy-form FusedConvAct."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmobile.models.layers import ConvBN, FusedConvAct, InferenceMemo, reparam
from mmmobile.models.layers.fused import onednn_works
from mmmobile.utils import randomize_bn_statistics, relative_error


def random_bn(channels: int, dims: int = 2, affine: bool = True, seed: int = 0) -> nn.Module:
    bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels, affine=affine)
    return randomize_bn_statistics(bn, seed=seed).double().eval()


def randn(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------ reparam (float64)


@pytest.mark.parametrize('affine', [True, False])
def test_bn_scale_shift(affine):
    bn = random_bn(6, affine=affine)
    x = randn(2, 6, 5, 4)
    scale, shift = reparam.bn_scale_shift(bn)
    assert relative_error(x * scale[:, None, None] + shift[:, None, None], bn(x)) <= 1e-12


@pytest.mark.parametrize('bias,groups', [(False, 1), (True, 1), (True, 3), (False, 6)])
def test_fold_bn_into_conv(bias, groups):
    conv = nn.Conv2d(6, 6, 3, 2, 1, groups=groups, bias=bias).double()
    bn = random_bn(6)
    x = randn(2, 6, 9, 7)
    weight, bias = reparam.fold_bn_into_conv(conv.weight, conv.bias, bn)
    out = F.conv2d(x, weight, bias, 2, 1, 1, groups)
    assert relative_error(out, bn(conv(x))) <= 1e-12


def test_fold_bn_into_next():
    bn1d, linear = random_bn(6, dims=1), nn.Linear(6, 4).double()
    x = randn(3, 6)
    weight, bias = reparam.fold_bn_into_next(bn1d, linear.weight, linear.bias)
    assert relative_error(F.linear(x, weight, bias), linear(bn1d(x))) <= 1e-12
    bn = random_bn(6)
    x = randn(2, 6, 9, 7)
    for conv in (nn.Conv2d(6, 4, 1).double(), nn.Conv2d(6, 4, 3, bias=False).double()):
        weight, bias = reparam.fold_bn_into_next(bn, conv.weight, conv.bias)
        assert relative_error(F.conv2d(x, weight, bias), conv(bn(x))) <= 1e-12


def test_pad_kernel_to():
    x = randn(1, 4, 11, 8)
    small = randn(4, 4, 3, 3, seed=1)
    padded = reparam.pad_kernel_to(small, 7)
    assert padded.shape[-2:] == (7, 7)
    assert relative_error(F.conv2d(x, padded, padding=3), F.conv2d(x, small, padding=1)) <= 1e-12
    with pytest.raises(ValueError):
        reparam.pad_kernel_to(small, 6)


@pytest.mark.parametrize('groups', [1, 2, 6])
def test_identity_kernel(groups):
    x = randn(2, 6, 5, 7)
    kernel = reparam.identity_kernel(6, 3, groups, like=x)
    assert torch.equal(F.conv2d(x, kernel, padding=1, groups=groups), x)


def test_conv_like():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
    weight, bias = randn(6, 2, 3, 3), randn(6, seed=1)
    fused = reparam.conv_like(conv, weight, bias)
    x = randn(1, 4, 13, 10)
    assert fused.weight.dtype == torch.float64 and fused.bias is not None
    assert torch.equal(fused(x), F.conv2d(x, weight, bias, 2, 2, 2, 2))


def test_reparameterize_children_lets_owners_fuse_themselves():

    class Owner(nn.Module):

        def __init__(self):
            super().__init__()
            self.inner = ConvBN(4, 4)
            self.calls = 0

        def switch_to_deploy(self):
            self.calls += 1

    model = nn.Sequential(nn.Sequential(ConvBN(4, 4), nn.ReLU()), Owner())
    reparam.reparameterize_children(model)
    assert model[0][0].deploy  # found below a plain container
    assert model[1].calls == 1 and not model[1].inner.deploy  # the owner's own business


# ------------------------------------------------------------------------- FusedConvAct

needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                                  reason='this PyTorch build has no oneDNN (mkldnn)')

GEOMETRIES = [  # in, out, kernel, stride, groups
    (8, 12, 1, 1, 1), (8, 12, 3, 2, 1), (12, 12, 3, 1, 12), (12, 12, 3, 2, 12), (8, 12, 3, 1, 2),
    (12, 12, 17, 1, 12), (12, 12, 17, 2, 12)]


def count_onednn_calls(monkeypatch) -> list:
    calls = []
    original = FusedConvAct._onednn_forward

    def counted(self, *args):
        calls.append(self)
        return original(self, *args)

    monkeypatch.setattr(FusedConvAct, '_onednn_forward', counted)
    return calls


@needs_onednn
@pytest.mark.parametrize('act', [None, nn.ReLU(), nn.GELU(), nn.SiLU(), nn.GELU('tanh'),
                                 nn.Hardswish()])
@pytest.mark.parametrize('with_residual', [False, True])
def test_fused_conv_act_equals_stock_ops(monkeypatch, act, with_residual):
    assert onednn_works()
    calls = count_onednn_calls(monkeypatch)
    for index, (cin, cout, kernel, stride, groups) in enumerate(GEOMETRIES):
        conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups)
        fused = FusedConvAct(conv, act)
        x = torch.randn(2, cin, 33, 47)
        if index % 2:
            x = x.contiguous(memory_format=torch.channels_last)
        expected = conv.double()(x.double())
        expected = act(expected) if act is not None else expected
        conv.float()
        residual = torch.randn(expected.shape) if with_residual else None
        if with_residual:
            expected = expected + residual.double()
        with torch.no_grad():
            out = fused(x, residual)
        assert out.shape == expected.shape
        assert relative_error(out.double(), expected) <= 1e-5
    assert len(calls) == len(GEOMETRIES)


@needs_onednn
def test_fused_linear_is_a_1x1_convolution(monkeypatch):
    calls = count_onednn_calls(monkeypatch)
    linear = nn.Linear(8, 12)
    fused = FusedConvAct(linear, nn.SiLU())
    assert fused.weight is linear.weight and fused.state_dict().keys() == linear.state_dict().keys()
    x = torch.randn(2, 8, 5, 7)
    expected = F.silu(linear(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    with torch.no_grad():
        assert relative_error(fused(x), expected) <= 1e-5
    assert relative_error(fused(x), expected) <= 1e-5  # grad mode on: the stock ops
    assert len(calls) == 1


@needs_onednn
def test_packed_weight_follows_changes():
    conv = nn.Conv2d(16, 32, 1)
    fused = FusedConvAct(conv, nn.ReLU())
    x = torch.randn(1, 16, 9, 9)

    def check(inp):
        with torch.no_grad():
            assert relative_error(fused(inp), F.relu(F.conv2d(inp, fused.weight, fused.bias))) \
                <= 1e-5

    check(x)
    fused.load_state_dict({'weight': torch.randn(32, 16, 1, 1), 'bias': torch.randn(32)})
    check(x)
    with torch.no_grad():
        fused.weight.mul_(-2)
    check(x)
    fused.weight = nn.Parameter(torch.randn(32, 16, 1, 1))
    check(x)
    fused.to(memory_format=torch.channels_last)
    check(x)
    check(torch.randn(2, 16, 5, 7))  # another input shape
    check(x)
    copied = copy.deepcopy(fused)  # the packed oneDNN tensor is not copied, it is rebuilt
    with torch.no_grad():
        assert torch.equal(copied(x), fused(x))


def test_inference_memo_recomputes_when_its_source_or_key_changes():
    weight = nn.Parameter(torch.randn(3, 4))
    memo, calls = InferenceMemo(), []

    def get(key):
        return memo(weight, key, lambda: calls.append(key) or weight.detach() * key)

    with torch.no_grad():
        first = get(2)
        assert get(2) is first and calls == [2]  # kept
        assert torch.equal(get(3), weight * 3) and calls == [2, 3]  # a new key replaces it
        assert torch.equal(get(2), weight * 2) and calls == [2, 3, 2]
        weight.add_(1)  # in place: the version counter moves
        assert torch.equal(get(2), weight * 2) and len(calls) == 4
        weight.data = torch.randn(3, 4)  # another storage (as .to() gives)
    with torch.inference_mode():
        assert torch.equal(get(2), weight * 2) and len(calls) == 5
        assert get(2) is get(2) and len(calls) == 5
    copied = copy.deepcopy(memo)  # copies start empty
    assert copied._entry is None and memo._entry is not None
    memo.clear()
    get(2), get(2)  # grad mode: computed every call, nothing kept
    assert len(calls) == 7 and memo._entry is None
    with torch.inference_mode():
        inference_weight = torch.randn(2, 2)  # no version counter: never kept
        memo(inference_weight, 0, lambda: 1)
    assert memo._entry is None


def test_inference_memo_stays_out_of_traces():
    class Scaled(nn.Module):

        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4))
            self.memo = InferenceMemo()

        def forward(self, x):
            return x + self.memo(self.weight, x.shape[-1], lambda: self.weight.exp())

    module, x = Scaled(), torch.randn(2, 4)
    with torch.no_grad():
        module(x)  # fills the memo
        traced = torch.jit.trace(module, x)
    assert 'aten::exp' in str(traced.inlined_graph)  # computed in the graph, not a constant
    with torch.no_grad():
        module.weight.mul_(2)
        assert torch.equal(traced(x), module(x))


def test_stock_ops_outside_fp32_cpu_inference():
    fused = FusedConvAct(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    x = torch.randn(1, 8, 5, 5)
    out = fused(x)  # autograd on: stock ops, gradients flow
    out.sum().backward()
    assert fused.weight.grad is not None
    with torch.no_grad():
        double = copy.deepcopy(fused).double()
        assert torch.equal(double(x.double()), double.stock_forward(x.double()))
        traced = torch.jit.trace(fused, x)
    assert 'mkldnn' not in str(traced.inlined_graph)
    assert relative_error(traced(x), fused.stock_forward(x)) <= 1e-6
    scripted = torch.jit.script(fused)
    assert relative_error(scripted(x), fused.stock_forward(x)) <= 1e-6


def test_fused_conv_act_rejects_what_it_cannot_run():
    with pytest.raises(ValueError, match='padding'):
        FusedConvAct(nn.Conv2d(4, 4, 3, padding='same'))
    with pytest.raises(ValueError, match='padding'):
        FusedConvAct(nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'))
    with pytest.raises(TypeError):
        FusedConvAct(nn.BatchNorm2d(4))
