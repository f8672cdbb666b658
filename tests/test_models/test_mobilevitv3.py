"""MobileViTv3: parameter counts, patches, odd sizes, dilation, fusion, converter, fixtures."""
import copy
import os.path as osp
import runpy
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmobile import convert_checkpoint, switch_to_deploy
from mmmobile.models import MobileViTv3, MobileViTv3ClsHead
from mmmobile.models.backbones.mobilevitv3 import (MobileViTv3BlockV1, MobileViTv3BlockV2,
                                                   fold_patches, unfold_patches)
from mmmobile.models.layers import FusedConvAct
from mmmobile.models.layers.fused import onednn_works
from mmmobile.utils import ToolError, randomize_bn_statistics, relative_error
from .utils import (check_norm_state, count_parameters, fused_and_stock_outputs,
                    official_fixture)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Official parameter counts with the 1000-class classifier (official README; fact sheet §1).
OFFICIAL_PARAMS = {
    'xxs': 1_249_448, 'xs': 2_490_360, 's': 5_763_912,
    '0.5': 1_429_985, '0.75': 2_999_641, '1.0': 5_139_409,
    'xxs_l2': 1_145_288, 'xs_l2': 2_257_320, 's_l2': 5_169_864,
}
# Stage output channels (+ the v1-based final 1x1 expansion); fact sheet §3/§4.
STAGE_CHANNELS = {
    'xxs': ([16, 24, 64, 80, 128], 512), 'xs': ([32, 48, 96, 160, 160], 640),
    's': ([32, 64, 128, 256, 320], 960), '0.5': ([32, 64, 128, 192, 256], None),
    '0.75': ([48, 96, 192, 288, 384], None), '1.0': ([64, 128, 256, 384, 512], None),
}
TINY_V1 = dict(base='v1', stem_channels=8, channels=[8, 16, 24, 32, 40], mv2_blocks=[1, 2],
               expand_ratio=2, transformer_dims=[16, 24, 32], depths=[1, 2, 1])
TINY_V2 = dict(TINY_V1, base='v2')


class Classifier(nn.Module):
    """Backbone + global average pooling + head (the ImageClassifier path, bare)."""

    def __init__(self, arch, num_classes=1000, deploy=False, **kwargs) -> None:
        super().__init__()
        self.backbone = MobileViTv3(arch, deploy=deploy, **kwargs)
        self.head = MobileViTv3ClsHead(num_classes, self.backbone.out_channels[-1])

    def forward(self, x):
        return self.head((self.backbone(x)[-1].mean((2, 3)), ))


def random_model(arch, seed=0, **kwargs):
    """A float64 model in eval mode with random weights and BN statistics."""
    torch.manual_seed(seed)
    model = Classifier(arch, num_classes=10, **kwargs)
    for param in model.parameters():
        param.data.normal_(0, 0.2)
    return randomize_bn_statistics(model, seed=seed + 1).double().eval()


# --------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('arch', sorted(OFFICIAL_PARAMS))
def test_parameter_counts_match_official(arch):
    with torch.device('meta'):
        model = Classifier(arch)
        no_final = MobileViTv3(arch, final_conv=False)
    assert count_parameters(model) == OFFICIAL_PARAMS[arch]
    base = arch.split('_')[0]
    if base in STAGE_CHANNELS:
        stages, final = STAGE_CHANNELS[base]
        assert [s[0].project.conv.out_channels for s in model.backbone.stages] == stages
        assert model.backbone.out_channels == stages[:4] + [final or stages[4]]
        assert no_final.out_channels == stages
    v1_based = MobileViTv3.arch_settings[arch]['base'] == 'v1'
    assert hasattr(model.backbone, 'final_conv') == v1_based
    assert not hasattr(no_final, 'final_conv')
    block_type = MobileViTv3BlockV1 if v1_based else MobileViTv3BlockV2
    blocks = [stage[1] for stage in model.backbone.stages[2:]]
    assert all(isinstance(b, block_type) for b in blocks)
    depths = [len(b.transformer.layers) for b in blocks]
    assert depths == ([2, 2, 3] if arch.endswith('_l2') else [2, 4, 3])


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
def test_output_shapes_and_strides(arch):
    model = MobileViTv3(arch, out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 128))
    assert len(outs) == 5
    for index, out in enumerate(outs):
        stride = 2**(index + 1)
        assert out.shape == (1, model.out_channels[index], 64 // stride, 128 // stride)
    with torch.no_grad():
        last = MobileViTv3(arch, out_indices=-1).eval()(torch.rand(1, 3, 64, 64))
    assert len(last) == 1 and last[0].shape[1] == model.out_channels[4]


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_unfold_fold_match_official_patch_order(memory_format):
    """The reshape-based tokens equal F.unfold / F.fold (kernel = stride = 2) in either layout;
    tokens come out contiguous and maps channels_last."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 6, 10, generator=generator, dtype=torch.float64)
    tokens, grid = unfold_patches(x.contiguous(memory_format=memory_format), 5)
    official = F.unfold(x, 2, stride=2).reshape(2, 5, 4, 15)  # (B, C, P, N)
    assert torch.equal(tokens, official.permute(0, 2, 3, 1).reshape(8, 15, 5))
    assert tokens.is_contiguous()
    other = torch.randn(2, 5, 4, 15, generator=generator, dtype=torch.float64)
    folded = fold_patches(other.permute(0, 2, 3, 1).reshape(8, 15, 5), grid, 5)
    assert torch.equal(folded, F.fold(other.reshape(2, 20, 15), (6, 10), 2, stride=2))
    assert folded.is_contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------
# An independent oracle: the official block forwards, written functionally with F.unfold/F.fold
# and the official token layouts, from the module weights.
# --------------------------------------------------------------------------------------------
def reference_block_v1(block: MobileViTv3BlockV1, x: torch.Tensor) -> torch.Tensor:
    local = block.local_pw(block.local_dw(x))
    batch, dim, height, width = local.shape
    even = (height + height % 2, width + width % 2)
    resized = even != (height, width)
    feat = F.interpolate(local, even, mode='bilinear', align_corners=False) if resized else local
    patches = F.unfold(feat, 2, stride=2).reshape(batch, dim, 4, -1)  # (B, C, P, N)
    tokens = patches.permute(0, 2, 3, 1).reshape(batch * 4, -1, dim)  # (B * P, N, C)
    for layer in block.transformer.layers:
        heads = layer.attn.num_heads
        y = F.layer_norm(tokens, (dim, ), layer.norm1.weight, layer.norm1.bias, 1e-5)
        q, k, v = F.linear(y, layer.attn.qkv.weight, layer.attn.qkv.bias).chunk(3, dim=-1)
        q, k, v = [t.reshape(batch * 4, -1, heads, dim // heads).transpose(1, 2)
                   for t in (q, k, v)]
        attn = (q * (dim // heads)**-0.5) @ k.transpose(-2, -1)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(batch * 4, -1, dim)
        tokens = tokens + F.linear(out, layer.attn.proj.weight, layer.attn.proj.bias)
        y = F.layer_norm(tokens, (dim, ), layer.norm2.weight, layer.norm2.bias, 1e-5)
        y = F.silu(F.linear(y, layer.ffn.fc1.weight, layer.ffn.fc1.bias))
        tokens = tokens + F.linear(y, layer.ffn.fc2.weight, layer.ffn.fc2.bias)
    norm = block.transformer.norm
    tokens = F.layer_norm(tokens, (dim, ), norm.weight, norm.bias, 1e-5)
    patches = tokens.reshape(batch, 4, -1, dim).permute(0, 3, 1, 2).reshape(batch, dim * 4, -1)
    folded = F.fold(patches, even, 2, stride=2)
    if resized:
        folded = F.interpolate(folded, (height, width), mode='bilinear', align_corners=False)
    return block.fusion(torch.cat((local, block.global_proj(folded)), dim=1), residual=x)


def reference_block_v2(block: MobileViTv3BlockV2, x: torch.Tensor) -> torch.Tensor:
    height, width = x.shape[-2:]
    even = (height + height % 2, width + width % 2)
    if even != (height, width):
        x = F.interpolate(x, even, mode='bilinear', align_corners=True)
    local = block.local_pw(block.local_dw(x))
    batch, dim = local.shape[:2]
    patches = F.unfold(local, 2, stride=2).reshape(batch, dim, 4, -1)  # (B, C, P, N)

    def group_norm(t, norm):
        return F.group_norm(t, 1, norm.weight, norm.bias, 1e-5)

    for layer in block.transformer.layers:
        y = group_norm(patches, layer.norm1)
        qkv = F.conv2d(y, layer.attn.qkv.weight, layer.attn.qkv.bias)
        query, key, value = qkv[:, :1], qkv[:, 1:1 + dim], qkv[:, 1 + dim:]
        context = (key * query.softmax(dim=-1)).sum(-1, keepdim=True)
        out = F.relu(value) * context
        patches = patches + F.conv2d(out, layer.attn.proj.weight, layer.attn.proj.bias)
        y = group_norm(patches, layer.norm2)
        y = F.silu(F.conv2d(y, layer.ffn.fc1.weight, layer.ffn.fc1.bias))
        patches = patches + F.conv2d(y, layer.ffn.fc2.weight, layer.ffn.fc2.bias)
    patches = group_norm(patches, block.transformer.norm)
    folded = F.fold(patches.reshape(batch, dim * 4, -1), even, 2, stride=2)
    return block.fusion(torch.cat((folded, local), dim=1), residual=x)


@pytest.mark.parametrize('size', [(8, 12), (7, 9), (5, 6), (1, 1)])
def test_blocks_equal_the_official_forward(size):
    """Even sizes: plain patches; odd: v1 resizes the local map and back, v2 the input."""
    torch.manual_seed(0)
    blocks = [MobileViTv3BlockV1(12, 16, 32, 2), MobileViTv3BlockV2(12, 16, 32, 2)]
    references = [reference_block_v1, reference_block_v2]
    x = torch.randn(2, 12, *size, dtype=torch.float64)
    for block, reference in zip(blocks, references):
        for param in block.parameters():
            param.data.normal_(0, 0.3)
        block = randomize_bn_statistics(block).double().eval()
        with torch.no_grad():
            out = block(x)
            expected = reference(block, x)
        assert out.shape == expected.shape
        assert relative_error(out, expected) <= 1e-12
        # v1 keeps the size, v2 keeps the enlarged one
        even = tuple(s + s % 2 for s in size)
        assert out.shape[-2:] == (size if isinstance(block, MobileViTv3BlockV1) else even)


def expected_grid(size, v1_based):
    """Per-stage map sizes: 3x3 stride-2 convs halve rounding up; v2 blocks round up to even."""
    def halve(hw):
        return tuple(-(-s // 2) for s in hw)

    grid = halve(size)  # stem; stage 0 keeps it
    sizes = [grid, halve(grid)]
    for _ in range(3):
        grid = halve(sizes[-1])
        sizes.append(grid if v1_based else tuple(s + s % 2 for s in grid))
    return sizes


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
@pytest.mark.parametrize('size', [(33, 47), (65, 65), (97, 131), (1, 5), (6, 1)])
def test_any_input_size(arch, size):
    torch.manual_seed(0)
    model = MobileViTv3(arch, out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    v1_based = model.is_v1_based
    for out, grid, channels in zip(outs, expected_grid(size, v1_based), model.out_channels):
        assert out.shape == (1, channels, *grid)
        assert torch.isfinite(out).all()


def test_odd_size_backward():
    model = MobileViTv3(TINY_V2, out_indices=(2, 4)).train()
    sum(o.mean() for o in model(torch.rand(2, 3, 45, 77))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Dense prediction: output stride
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('arch', [TINY_V1, TINY_V2])
@pytest.mark.parametrize('out_stride', [16, 8])
def test_out_stride_dilates_like_cvnets(arch, out_stride):
    model = MobileViTv3(arch, out_indices=(2, 3, 4), out_stride=out_stride).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[-1] for o in outs] == [8, 8 if out_stride == 8 else 4, 64 // out_stride]
    v1_based = arch['base'] == 'v1'
    mv2 = [model.stages[s][0].depthwise.conv for s in (2, 3, 4)]
    local = [model.stages[s][1].local_dw.conv for s in (2, 3, 4)]
    # CVNets: a dilated stage's MV2 keeps stride 1 and the previous dilation; v2 blocks take the
    # doubled dilation, v1 blocks none.
    if out_stride == 16:
        assert [m.stride[0] for m in mv2] == [2, 2, 1]
        assert [m.dilation[0] for m in mv2] == [1, 1, 1]
        block_dilations = [1, 1, 2]
    else:
        assert [m.stride[0] for m in mv2] == [2, 1, 1]
        assert [m.dilation[0] for m in mv2] == [1, 1, 2]
        block_dilations = [1, 2, 4]
    assert [m.dilation[0] for m in local] == ([1, 1, 1] if v1_based else block_dilations)
    assert all(m.padding[0] == m.dilation[0] for m in mv2 + local)


def test_dilated_mv2_keeps_cvnets_residual_rule():
    """XS layer 5 is 160 -> 160: at output stride 16 its MV2 becomes stride 1 with a residual."""
    with torch.device('meta'):
        plain = MobileViTv3('xs')
        dilated = MobileViTv3('xs', out_stride=16)
    assert not plain.stages[4][0].use_residual and dilated.stages[4][0].use_residual
    assert count_parameters(plain) == count_parameters(dilated)


# --------------------------------------------------------------------------------------------
# Training options
# --------------------------------------------------------------------------------------------
def test_invalid_arguments():
    with pytest.raises(ValueError, match='Unknown MobileViTv3 arch'):
        MobileViTv3('xxl')
    with pytest.raises(TypeError):
        MobileViTv3(['s'])
    with pytest.raises(ValueError, match='missing'):
        MobileViTv3(dict(base='v1', channels=[8] * 5))
    with pytest.raises(ValueError, match='base'):
        MobileViTv3(dict(TINY_V1, base='v3'))
    with pytest.raises(ValueError, match='entries'):
        MobileViTv3(dict(TINY_V1, depths=[1, 1]))
    with pytest.raises(ValueError, match='out_stride'):
        MobileViTv3(TINY_V1, out_stride=4)
    with pytest.raises(ValueError, match='out_indices'):
        MobileViTv3(TINY_V1, out_indices=(5, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        MobileViTv3(TINY_V1, frozen_stages=6)
    with pytest.raises(ValueError, match='divisible'):
        MobileViTv3(dict(TINY_V1, num_heads=5))


def test_dropout_defaults_follow_official():
    def rates(model):
        return {m.p for m in model.modules() if isinstance(m, nn.Dropout)}

    with torch.device('meta'):
        assert rates(MobileViTv3('xxs')) == {0.05}
        assert rates(MobileViTv3('s_l2')) == {0.1}
        assert rates(MobileViTv3('1.0')) == {0.}
        assert rates(MobileViTv3('xs', dropout=0.)) == {0.}


def test_frozen_stages_and_norm_eval():
    model = MobileViTv3(TINY_V1, frozen_stages=3)
    model.train()
    for module in [model.stem, *model.stages[:3]]:
        assert not any(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), False)
    for module in [*model.stages[3:], model.final_conv]:
        assert all(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), True)
    assert model.train() is model and model.eval() is model
    all_frozen = MobileViTv3(TINY_V1, frozen_stages=5).train()
    assert not any(p.requires_grad for p in all_frozen.parameters())

    model = MobileViTv3(TINY_V2, norm_eval=True).train()
    assert check_norm_state(model.modules(), False)
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules() if isinstance(m, nn.GroupNorm))
    assert check_norm_state(MobileViTv3(TINY_V2).train().modules(), True)


@pytest.mark.parametrize('arch', [TINY_V1, TINY_V2])
def test_with_cp_and_drop_path(arch):
    model = MobileViTv3(arch, drop_path_rate=0.2)
    rates = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    assert len(rates) == sum(arch['depths']) - 1  # the first layer has rate 0
    assert max(rates) == pytest.approx(0.2)

    plain = MobileViTv3(arch, out_indices=(2, 4), dropout=0.).train()
    checkpointed = MobileViTv3(arch, out_indices=(2, 4), dropout=0., with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, 56)
    for model in (plain, checkpointed):
        sum(o.sum() for o in model(x)).backward()
    for (name, p1), p2 in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(p1.grad, p2.grad, rtol=1e-4, atol=1e-5), name


def test_head_dropout_and_loss():
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    head = MobileViTv3ClsHead(5, 16, dropout_rate=0.5)
    feats = (torch.randn(4, 16), )
    head.eval()
    assert torch.equal(head(feats), head.fc(feats[0]))
    head.train()
    assert not torch.allclose(head(feats), head.fc(feats[0]))
    head = MobileViTv3ClsHead(5, 16, dropout_rate=0.)
    samples = [DataSample().set_gt_label(i % 5) for i in range(4)]
    loss = head.loss(feats, samples)['loss']
    assert torch.allclose(loss, F.cross_entropy(head(feats), torch.arange(4) % 5), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Fusion and export-friendliness
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('arch,out_stride', [(TINY_V1, 32), (TINY_V2, 32), (TINY_V2, 8)])
def test_fuse_equivalence_and_deploy_form(arch, out_stride):
    model = random_model(arch, out_stride=out_stride)
    inputs = [torch.randn(2, 3, 64, 64, dtype=torch.float64),
              torch.randn(1, 3, 45, 71, dtype=torch.float64)]
    with torch.no_grad():
        expected = [model(x) for x in inputs]
        switch_to_deploy(model)
        fused_state = copy.deepcopy(model.state_dict())
        switch_to_deploy(model)  # idempotent
        for x, ref in zip(inputs, expected):
            assert relative_error(model(x), ref) <= 1e-10
    assert model.backbone.deploy
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    deployed = Classifier(arch, num_classes=10, deploy=True, out_stride=out_stride).double()
    deployed.load_state_dict(fused_state, strict=True)
    deployed.eval()
    with torch.no_grad():
        for x, ref in zip(inputs, expected):
            assert relative_error(deployed(x), ref) <= 1e-10


@pytest.mark.parametrize('arch', [TINY_V1, TINY_V2])
@pytest.mark.parametrize('deploy', [False, True])
def test_trace_has_no_shape_arithmetic(arch, deploy):
    """Even-size traces record no tensor sizes (CoreML's ``aten::Int`` problem) and stay valid
    for other even sizes; odd-size traces bake their sizes in as constants. Traces of the deploy
    form record stock convolutions, no oneDNN op."""
    model = random_model(arch).float()
    if deploy:
        switch_to_deploy(model)
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.rand(1, 3, 64, 64))
        graph = str(traced.inlined_graph)
        assert 'aten::Int' not in graph and 'aten::size' not in graph
        assert 'mkldnn' not in graph and 'aten::_convolution' in graph
        x = torch.rand(2, 3, 128, 64)
        assert relative_error(traced(x), model(x)) <= 1e-5
        traced = torch.jit.trace(model, torch.rand(1, 3, 50, 70))  # odd maps from stage 2 on
        assert 'aten::Int' not in str(traced.inlined_graph)
        x = torch.rand(1, 3, 50, 70)
        assert relative_error(traced(x), model(x)) <= 1e-5


@pytest.mark.skipif(not onednn_works(), reason='no working oneDNN in this PyTorch build')
@pytest.mark.parametrize('arch,out_stride', [(TINY_V1, 32), (TINY_V2, 32), (TINY_V2, 8)])
def test_deploy_form_fast_path_equals_training_form(arch, out_stride):
    """The deploy form in float32 CPU inference (no grad: its fused convolutions run through
    oneDNN) gives the training form's float64 result and the stock ops' (grad mode on) at odd
    and tiny sizes, in both input layouts, for every stage."""
    model = random_model(arch, out_stride=out_stride)
    model.backbone.out_indices = (0, 1, 2, 3, 4)
    inputs = [torch.randn(1, 3, 45, 71, dtype=torch.float64), torch.randn(2, 3, 5, 1,
                                                                          dtype=torch.float64)]
    with torch.no_grad():
        expected = [model.backbone(x) for x in inputs]
    switch_to_deploy(model)
    backbone = model.backbone.float()
    fused = [m for m in backbone.modules() if isinstance(m, FusedConvAct)]
    assert sum(m.kernel_size == (1, 1) for m in fused) > sum(arch['depths'])  # 1x1s included
    for x, ref in zip(inputs, expected):
        for layout in (torch.contiguous_format, torch.channels_last):
            outs, stock, calls = fused_and_stock_outputs(
                backbone, x.float().contiguous(memory_format=layout))
            assert calls == len(fused)  # each fused layer once, through oneDNN
            for out, plain, reference in zip(outs, stock, ref):
                assert relative_error(out, reference) <= 1e-5
                assert relative_error(out, plain) <= 1e-5


# --------------------------------------------------------------------------------------------
# Converter and official fixtures
# --------------------------------------------------------------------------------------------
def _image_classifier(arch, dropout_rate, deploy=False):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    backbone = MobileViTv3(arch)  # for the head width only
    return MODELS.build(
        dict(type='ImageClassifier',
             backbone=dict(type='mmmobile.MobileViTv3', arch=arch, deploy=deploy),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='mmmobile.MobileViTv3ClsHead', num_classes=1000,
                       in_channels=backbone.out_channels[-1], dropout_rate=dropout_rate)))


@pytest.mark.parametrize('name,arch,dropout_rate', [('mobilevitv3-xxs', 'xxs', 0.1),
                                                    ('mobilevitv3-0.5', '0.5', 0.)])
def test_official_logits(official_fixtures, tmp_path, monkeypatch, capsys, name, arch,
                         dropout_rate):
    """Converted official checkpoint -> the official logits, unfused, fused and deploy=True."""
    entry, expected = official_fixture(official_fixtures, name)
    src = osp.join(official_fixtures, entry['checkpoint'])
    dst = tmp_path / f'{name}.pth'
    if arch == 'xxs':  # once through the command-line tool (in-process: no interpreter start-up)
        tool = osp.join(REPO_ROOT, 'tools', 'convert_ckpt.py')
        monkeypatch.setattr(sys, 'argv', [tool, 'mobilevitv3', src, str(dst)])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(tool, run_name='__main__')
        assert exit_info.value.code == 0
        stdout = capsys.readouterr().out
        assert 'layout=v1' in stdout and 'arch=xxs' in stdout
    else:
        meta = convert_checkpoint('mobilevitv3', src, str(dst))
        assert meta['layout'] == 'v2' and meta['arch'] == '0.5' and not meta['final_conv']

    model = _image_classifier(arch, dropout_rate)
    assert count_parameters(model) == entry['official_params']
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    model.eval()
    inputs = expected['input']
    assert inputs.shape[-1] == entry['input_resolution']
    with torch.no_grad():
        assert relative_error(model(inputs, mode='tensor'), expected['logits']) <= 1e-4
        switch_to_deploy(model)
        assert relative_error(model(inputs, mode='tensor'), expected['logits']) <= 1e-4
        deployed = _image_classifier(arch, dropout_rate, deploy=True)
        deployed.load_state_dict(model.state_dict(), strict=True)
        deployed.eval()
        assert relative_error(deployed(inputs, mode='tensor'), expected['logits']) <= 1e-4


def test_converter_downstream_and_bad_files(official_fixtures, tmp_path):
    entry, _ = official_fixture(official_fixtures, 'mobilevitv3-xxs')
    official = torch.load(osp.join(official_fixtures, entry['checkpoint']), weights_only=True)
    direct = convert_checkpoint('mobilevitv3', osp.join(official_fixtures, entry['checkpoint']),
                                str(tmp_path / 'direct.pth'))
    assert 'dropped_keys' not in direct
    # A segmentation-style file: backbone under ``encoder.`` (without classifier and
    # conv_1x1_exp), plus head keys.
    segmentation = {f'encoder.{k}': v for k, v in official.items()
                    if not k.startswith(('classifier.', 'conv_1x1_exp.'))}
    segmentation['seg_head.classifier.weight'] = torch.zeros(21, 256, 1, 1)
    torch.save(segmentation, tmp_path / 'seg.pt')
    meta = convert_checkpoint('mobilevitv3', str(tmp_path / 'seg.pt'), str(tmp_path / 'seg.pth'))
    assert meta['dropped_keys'] == 1 and meta['arch'] == 'xxs' and not meta['final_conv']
    converted = torch.load(tmp_path / 'seg.pth', weights_only=True)['state_dict']
    backbone = MobileViTv3('xxs', final_conv=False)
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in converted.items()},
                             strict=True)

    def convert(state):
        torch.save(state, tmp_path / 'bad.pt')
        convert_checkpoint('mobilevitv3', str(tmp_path / 'bad.pt'), str(tmp_path / 'bad.pth'))

    with pytest.raises(ToolError, match='not an official MobileViTv3'):
        convert({'features.0.weight': torch.zeros(1)})
    with pytest.raises(ToolError, match='unrecognised MobileViTv3 key layout'):
        convert({k: v for k, v in official.items() if 'global_rep' not in k})
    v1_style = dict(official)  # MobileViT v1: 3x3 fusion conv on concat(input, global)
    v1_style['layer_3.1.fusion.block.conv.weight'] = torch.zeros(64, 128, 3, 3)
    with pytest.raises(ToolError, match='not MobileViTv3'):
        convert(v1_style)
    with pytest.raises(ToolError, match='unexpected'):
        convert(dict(official, **{'layer_3.1.extra.weight': torch.zeros(1)}))
    assert not (tmp_path / 'bad.pth').exists()
