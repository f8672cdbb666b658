"""CMT: any input size, bias resizing, freezing, parameter counts, fusion, converter, configs."""
import copy
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmobile import convert_checkpoint, switch_to_deploy
from mmmobile.models import CMT, CMTClsHead
from mmmobile.models.backbones.cmt import ceil_grid, resize_relative_position_bias
from mmmobile.models.layers.attention import attention
from mmmobile.models.layers.fused import FusedConvAct, onednn_works
from mmmobile.utils import ToolError, randomize_bn_statistics, relative_error
from .utils import (check_norm_state, count_parameters, fused_and_stock_outputs,
                    official_fixture)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_ARCH = dict(embed_dims=[16, 24, 32, 48], depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4],
                 stem_channels=8, mlp_ratios=2.5, img_size=64)

# Official parameter counts (backbone + 1000-class head), computed from the official code
# (reference sheet cmt.md sections 1 and 3): at the native resolution and at 224.
NATIVE_PARAMS = {'ti': (160, 9_492_426), 'xs': (192, 15_247_208), 's': (224, 26_256_160),
                 'b': (256, 45_715_076)}
PARAMS_AT_224 = {'ti': 9_705_546, 'xs': 15_379_808, 's': 26_256_160, 'b': 45_511_676}
BACKBONE_PARAMS = {'ti': 7_736_546, 'xs': 13_429_888, 's': 24_315_960, 'b': 43_651_996}
BIAS_SHAPES = {  # relative_pos_{a,b,c,d} at the native resolution
    'ti': [(1, 1600, 25), (2, 400, 25), (4, 100, 25), (8, 25, 25)],
    'xs': [(1, 2304, 36), (2, 576, 36), (4, 144, 36), (8, 36, 36)],
    's': [(1, 3136, 49), (2, 784, 49), (4, 196, 49), (8, 49, 49)],
    'b': [(1, 4096, 64), (2, 1024, 64), (4, 256, 64), (8, 64, 64)],
}
HIDDEN_DIMS = {'ti': [165, 331, 662, 1324], 'xs': [196, 392, 784, 1568],
               's': [256, 512, 1024, 2048], 'b': [304, 608, 1216, 2432]}


class Classifier(nn.Module):
    """Backbone + CMT head (the ImageClassifier path without the data preprocessor)."""

    def __init__(self, arch=TINY_ARCH, num_classes=10, deploy=False, **kwargs) -> None:
        super().__init__()
        self.backbone = CMT(arch, out_indices=(3, ), deploy=deploy, **kwargs)
        self.head = CMTClsHead(num_classes, self.backbone.out_channels[-1], deploy=deploy)

    def forward(self, x):
        return self.head(self.backbone(x))


def expected_grid(size, stride):
    return -(-size[0] // stride), -(-size[1] // stride)


# --------------------------------------------------------------------------------------------
# An independent oracle: the official forward written out functionally from the module weights.
# --------------------------------------------------------------------------------------------
def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.,
                        bn.eps)


def _pad_to(x, multiple):
    return F.pad(x, (0, -x.shape[-1] % multiple, 0, -x.shape[-2] % multiple))


def reference_forward(model: CMT, x: torch.Tensor, bias_override=None):
    """Maps of every stage, computed step by step as the official ``forward_features``."""
    for unit in model.stem:
        x = _bn(F.gelu(unit.conv(x)), unit.bn)
    outs = []
    for index, stage in enumerate(model.stages):
        embed = stage.patch_embed
        x = F.conv2d(_pad_to(x, 2), embed.proj.weight, embed.proj.bias, stride=2)
        batch, channels, height, width = x.shape
        x = F.layer_norm(x.flatten(2).transpose(1, 2), (channels, ), embed.norm.weight,
                         embed.norm.bias, embed.norm.eps)
        bias = stage.relative_pos if bias_override is None else bias_override[index]
        for block in stage.blocks:
            cnn = x.transpose(1, 2).reshape(batch, channels, height, width)
            lpu = block.lpu.conv
            x = (F.conv2d(cnn, lpu.weight, lpu.bias, padding=1, groups=channels) + cnn)
            x = x.flatten(2).transpose(1, 2)
            # LMHSA
            attn, heads = block.attn, block.attn.num_heads
            y = F.layer_norm(x, (channels, ), block.norm1.weight, block.norm1.bias, 1e-6)
            q = F.linear(y, attn.q.weight, attn.q.bias)
            if attn.sr_ratio > 1:
                m = y.transpose(1, 2).reshape(batch, channels, height, width)
                m = F.conv2d(_pad_to(m, attn.sr_ratio), attn.sr.conv.weight, attn.sr.conv.bias,
                             stride=attn.sr_ratio, groups=channels)
                y = _bn(m, attn.sr.bn).flatten(2).transpose(1, 2)
            k = F.linear(y, attn.k.weight, attn.k.bias)
            v = F.linear(y, attn.v.weight, attn.v.bias)
            q, k, v = [t.reshape(batch, t.shape[1], heads, -1).permute(0, 2, 1, 3)
                       for t in (q, k, v)]
            logits = (q @ k.transpose(-2, -1)) * (channels // heads)**-0.5 + bias
            out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(batch, -1, channels)
            x = x + F.linear(out, attn.proj.weight, attn.proj.bias)
            # IRFFN
            ffn = block.ffn
            y = F.layer_norm(x, (channels, ), block.norm2.weight, block.norm2.bias, 1e-6)
            m = y.transpose(1, 2).reshape(batch, channels, height, width)
            m = _bn(F.gelu(F.conv2d(m, ffn.expand.conv.weight, ffn.expand.conv.bias)),
                    ffn.expand.bn)
            m = F.conv2d(m, ffn.dw.conv.weight, ffn.dw.conv.bias, padding=1,
                         groups=m.shape[1]) + m
            m = _bn(F.gelu(m), ffn.dw_bn)
            m = _bn(F.conv2d(m, ffn.project.conv.weight, ffn.project.conv.bias),
                    ffn.project.bn)
            x = x + m.flatten(2).transpose(1, 2)
        x = x.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        outs.append(x)
    return outs


def random_model(seed=0, **kwargs):
    """A float64 tiny CMT in eval mode with random weights and BN statistics."""
    torch.manual_seed(seed)
    model = Classifier(**kwargs)
    for param in model.parameters():
        param.data.normal_(0, 0.2)
    return randomize_bn_statistics(model, seed=seed + 1).double().eval()


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('out_indices', [(0, ), (3, ), (0, 1, 2, 3), (1, 3), -1])
def test_output_shapes(out_indices):
    model = CMT(TINY_ARCH, out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 96))
    expected = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    expected = [i % 4 for i in expected]
    assert isinstance(outs, tuple) and len(outs) == len(expected)
    for out, index in zip(outs, expected):
        stride = 4 * 2**index
        assert out.shape == (1, TINY_ARCH['embed_dims'][index], 64 // stride, 96 // stride)


@pytest.mark.parametrize('size', [(97, 131), (33, 47), (65, 65), (31, 97), (1, 5), (250, 20)])
def test_any_input_size(size):
    """Odd and non-native sizes: ceil(H / stride) maps, finite values, also in training."""
    torch.manual_seed(0)
    model = CMT(TINY_ARCH).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    for index, out in enumerate(outs):
        assert out.shape == (2, TINY_ARCH['embed_dims'][index],
                             *expected_grid(size, 4 * 2**index))
        assert torch.isfinite(out).all()
    model.train()
    loss = sum(out.mean() for out in model(torch.rand(2, 3, *size)))
    loss.backward()
    for stage in model.stages:
        assert stage.relative_pos.grad is not None
        assert torch.isfinite(stage.relative_pos.grad).all()


def test_odd_size_docstring_example():
    model = CMT('ti').eval()
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
    assert shapes == [(1, 46, 25, 33), (1, 92, 13, 17), (1, 184, 7, 9), (1, 368, 4, 5)]


def test_native_size_output_equals_direct_computation_with_stored_bias():
    model = random_model().backbone
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for stage in model.stages:  # at the build grid the parameter itself is used
        assert stage.position_bias(stage.query_grid) is stage.relative_pos
    model.out_indices = (0, 1, 2, 3)
    with torch.no_grad():
        outs = model(x)
        expected = reference_forward(model, x)
    for out, ref in zip(outs, expected):
        assert relative_error(out, ref) <= 1e-12


@pytest.mark.parametrize('size', [(96, 160), (45, 77)])
def test_other_sizes_use_the_resized_bias(size):
    """Away from the build size the blocks see the bicubically resized (padded-grid) bias."""
    model = random_model().backbone
    model.out_indices = (0, 1, 2, 3)
    x = torch.randn(1, 3, *size, dtype=torch.float64)
    biases = []
    for index, stage in enumerate(model.stages):
        grid = expected_grid(size, 4 * 2**index)
        key_grid = ceil_grid(grid, stage.sr_ratio)
        bias = resize_relative_position_bias(stage.relative_pos.detach(), stage.query_grid,
                                             stage.key_grid, grid, key_grid)
        assert bias.shape == (stage.relative_pos.shape[0], grid[0] * grid[1],
                              key_grid[0] * key_grid[1])
        assert torch.equal(stage.position_bias(grid), bias)
        biases.append(bias)
    with torch.no_grad():
        for out, ref in zip(model(x), reference_forward(model, x, biases)):
            assert relative_error(out, ref) <= 1e-12


def test_resized_bias_is_kept_at_inference_until_the_grid_or_the_parameter_changes():
    stage = random_model().backbone.stages[1]
    grid, other = (5, 7), (4, 4)
    with torch.no_grad():
        bias = stage.position_bias(grid)
        assert stage.position_bias(grid) is bias  # once per grid
        assert stage.position_bias(other) is not bias
        assert torch.equal(stage.position_bias(grid), bias)
        stage.load_state_dict({**stage.state_dict(),
                               'relative_pos': torch.randn_like(stage.relative_pos)})
        changed = stage.position_bias(grid)
    assert not torch.equal(changed, bias)
    assert torch.equal(changed, resize_relative_position_bias(
        stage.relative_pos.detach(), stage.query_grid, stage.key_grid, grid,
        ceil_grid(grid, stage.sr_ratio)))
    trained = stage.position_bias(grid)  # grad mode: a fresh resize that carries gradients
    assert trained is not changed and trained.requires_grad
    trained.sum().backward()
    assert stage.relative_pos.grad.abs().sum() > 0


def test_resize_relative_position_bias():
    generator = torch.Generator().manual_seed(0)
    bias = torch.randn(3, 7 * 7, 4 * 4, generator=generator, dtype=torch.float64)
    # Unchanged grids: untouched.
    assert resize_relative_position_bias(bias, (7, 7), (4, 4), (7, 7), (4, 4)) is bias
    # Non-square targets, query and key grids resized independently.
    out = resize_relative_position_bias(bias, (7, 7), (4, 4), (10, 13), (3, 5))
    assert out.shape == (3, 130, 15)
    # Separable: resizing the key grid first gives the same result (the two resizes commute).
    maps = bias.reshape(3 * 49, 1, 4, 4)
    key_first = F.interpolate(maps, size=(3, 5), mode='bicubic', align_corners=False)
    key_first = key_first.reshape(3, 7, 7, 15).permute(0, 3, 1, 2)
    key_first = F.interpolate(key_first, size=(10, 13), mode='bicubic', align_corners=False)
    key_first = key_first.flatten(2).transpose(1, 2)
    assert relative_error(out, key_first) <= 1e-12
    # Per head: head 1 resized alone equals head 1 of the joint resize.
    single = resize_relative_position_bias(bias[1:2], (7, 7), (4, 4), (10, 13), (3, 5))
    assert torch.allclose(single[0], out[1], rtol=0, atol=1e-12)
    # A bias constant over keys stays constant over keys, and equals the bicubic query resize.
    const = bias[:, :, :1].expand(-1, -1, 16)
    resized = resize_relative_position_bias(const, (7, 7), (4, 4), (9, 11), (2, 3))
    query_only = F.interpolate(bias[:, :, 0].reshape(1, 3, 7, 7), size=(9, 11), mode='bicubic',
                               align_corners=False).reshape(3, 99, 1)
    assert torch.allclose(resized, query_only.expand(-1, -1, 6), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match='does not match'):
        resize_relative_position_bias(bias, (7, 8), (4, 4), (7, 7), (4, 4))


def test_attention_paths_agree():
    """The fused kernel and the explicit matmuls (used while tracing) compute the same thing,
    with and without a bias."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=generator, dtype=torch.float64)
               for n in (20, 6, 6))
    bias = torch.randn(3, 20, 6, generator=generator, dtype=torch.float64)
    logits = (q @ k.transpose(-2, -1)) * 0.3 + bias
    expected = logits.softmax(-1) @ v
    for fused in (True, False):
        assert relative_error(attention(q, k, v, 0.3, bias, fused=fused), expected) <= 1e-12
        plain = attention(q, k, v, 0.3, fused=fused)
        assert relative_error(plain, (q @ k.transpose(-2, -1) * 0.3).softmax(-1) @ v) <= 1e-12


def test_invalid_arguments():
    with pytest.raises(ValueError, match='Unknown CMT arch'):
        CMT('l')
    with pytest.raises(TypeError):
        CMT(['s'])
    with pytest.raises(ValueError, match='missing'):
        CMT(dict(embed_dims=[8, 16, 24, 32]))
    with pytest.raises(ValueError, match='entries'):
        CMT(dict(TINY_ARCH, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='out_indices'):
        CMT(TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        CMT(TINY_ARCH, frozen_stages=5)
    with pytest.raises(ValueError, match='divisible'):
        CMT(dict(TINY_ARCH, num_heads=[1, 5, 2, 4]))


def test_frozen_stages_and_norm_eval():
    model = CMT(TINY_ARCH, frozen_stages=2)
    model.train()
    for module in [model.stem, model.stages[0], model.stages[1]]:
        assert not any(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), False)
    assert not model.stages[1].relative_pos.requires_grad
    for module in [model.stages[2], model.stages[3]]:
        assert all(p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), True)
    assert model.train() is model and model.eval() is model

    model = CMT(TINY_ARCH, norm_eval=True).train()
    assert check_norm_state(model.modules(), False)
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules() if isinstance(m, nn.LayerNorm))
    model = CMT(TINY_ARCH, norm_eval=False).train()
    assert check_norm_state(model.modules(), True)


@pytest.mark.parametrize('arch', sorted(NATIVE_PARAMS))
def test_parameter_counts_match_official(arch):
    img_size, expected = NATIVE_PARAMS[arch]
    with torch.device('meta'):
        model = Classifier(arch, num_classes=1000)
        at_224 = Classifier(arch, num_classes=1000, img_size=224)
    assert model.backbone.img_size == (img_size, img_size)  # default: native resolution
    assert count_parameters(model.backbone) == BACKBONE_PARAMS[arch]
    assert count_parameters(model) == expected
    assert count_parameters(at_224) == PARAMS_AT_224[arch]
    assert [tuple(s.relative_pos.shape) for s in model.backbone.stages] == BIAS_SHAPES[arch]
    hidden = [s.blocks[0].ffn.expand.conv.out_channels for s in model.backbone.stages]
    assert hidden == HIDDEN_DIMS[arch]
    assert [len(s.blocks) for s in model.backbone.stages] == CMT.arch_settings[arch]['depths']


def test_fuse_equivalence_and_deploy_form():
    model = random_model()
    inputs = [torch.randn(2, 3, 64, 64, dtype=torch.float64),  # native
              torch.randn(2, 3, 61, 83, dtype=torch.float64)]  # odd: padded grids
    with torch.no_grad():
        expected = [model(x) for x in inputs]
        switch_to_deploy(model)
        fused_state = copy.deepcopy(model.state_dict())
        switch_to_deploy(model)  # idempotent
        assert model.state_dict().keys() == fused_state.keys()
        for x, ref in zip(inputs, expected):
            assert relative_error(model(x), ref) <= 1e-10

    backbone = model.backbone
    assert backbone.deploy and model.head.deploy
    # Only the BNs that feed a zero-padded conv remain: 3 in the stem, one per IRFFN expansion.
    remaining = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(remaining) == 3 + sum(TINY_ARCH['depths'])
    assert all(n.startswith('backbone.stem.') or n.endswith('ffn.expand.bn') for n in remaining)
    for stage in backbone.stages:
        for block in stage.blocks:
            assert not hasattr(block.lpu, 'conv') and not hasattr(block.ffn, 'dw_bn')
            names = {'qkv'} if block.attn.sr_ratio == 1 else {'q', 'kv'}
            assert names <= set(dict(block.attn.named_children()))
            assert not hasattr(block.attn, 'k') and not hasattr(block.attn, 'v')

    # The fused weights load strictly into the model built with deploy=True.
    deployed = Classifier(deploy=True).double().eval()
    deployed.load_state_dict(fused_state, strict=True)
    with torch.no_grad():
        for x, ref in zip(inputs, expected):
            assert relative_error(deployed(x), ref) <= 1e-10

    # float32 CPU inference at the odd size (no grad: fused convolutions through oneDNN where
    # it works, SDPA) against the training form's float64 result and the stock ops (grad on).
    deployed.float()
    x = inputs[1].float().contiguous(memory_format=torch.channels_last)
    fast, stock, calls = fused_and_stock_outputs(deployed, x)
    fused = [m for m in deployed.modules() if isinstance(m, FusedConvAct)]
    assert calls == (len(fused) if onednn_works() else 0)  # each fused layer once
    assert relative_error(fast, expected[1]) <= 1e-5
    assert relative_error(fast, stock) <= 1e-5


def test_with_cp_and_drop_path():
    torch.manual_seed(0)
    model = CMT(TINY_ARCH, drop_path_rate=0.2)
    rates = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    # one per residual (attention, IRFFN) of every block but the first (rate 0)
    assert len(rates) == 2 * (sum(TINY_ARCH['depths']) - 1)
    assert max(rates) == pytest.approx(0.2)

    plain = CMT(TINY_ARCH).train()
    checkpointed = CMT(TINY_ARCH, with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, 56, requires_grad=True)
    for model in (plain, checkpointed):
        torch.manual_seed(1)
        sum(o.sum() for o in model(x)).backward()
    for (name, p1), p2 in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(p1.grad, p2.grad, rtol=1e-4, atol=1e-5), name


def test_head_loss_matches_cross_entropy():
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    head = CMTClsHead(5, 16, mid_channels=32, dropout_rate=0.)
    feats = (torch.randn(4, 16, 3, 5), )
    samples = [DataSample().set_gt_label(i % 5) for i in range(4)]
    loss = head.loss(feats, samples)['loss']
    assert torch.allclose(loss, F.cross_entropy(head(feats), torch.arange(4) % 5), rtol=1e-6)
    assert head.pre_logits(feats).shape == (4, 32)


# --------------------------------------------------------------------------------------------
# Converter and official fixture
# --------------------------------------------------------------------------------------------
def _official_keys(state_dict):
    """Rename an mmmobile classifier state dict to the official layout (test oracle).

    Written independently of the converter, from the official module names.
    """
    official = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        if parts[0] == 'head' and parts[1] == 'fc':
            new = 'head.' + parts[2]
        elif parts[0] == 'head':
            new = ('_fc.' if parts[2] == 'conv' else '_bn.') + '.'.join(parts[3:])
        elif parts[1] == 'stem':
            kind = 'stem_conv' if parts[3] == 'conv' else 'stem_norm'
            new = f'{kind}{int(parts[2]) + 1}.' + '.'.join(parts[4:])
        else:
            letter = 'abcd'[int(parts[2])]
            if parts[3] == 'relative_pos':
                new = f'relative_pos_{letter}'
            elif parts[3] == 'patch_embed':
                new = f'patch_embed_{letter}.' + '.'.join(parts[4:])
            else:
                rest = '.'.join(parts[5:])
                for ours, theirs in [('lpu.conv.', 'proj.'), ('attn.sr.conv.', 'attn.sr.0.'),
                                     ('attn.sr.bn.', 'attn.sr.1.'),
                                     ('ffn.expand.conv.', 'mlp.conv1.0.'),
                                     ('ffn.expand.bn.', 'mlp.conv1.2.'),
                                     ('ffn.dw.conv.', 'mlp.proj.'), ('ffn.dw_bn.', 'mlp.proj_bn.'),
                                     ('ffn.project.conv.', 'mlp.conv2.0.'),
                                     ('ffn.project.bn.', 'mlp.conv2.1.')]:
                    if rest.startswith(ours):
                        rest = theirs + rest[len(ours):]
                        break
                new = f'blocks_{letter}.{parts[4]}.{rest}'
        official[new] = value
    return official


def test_converter_round_trip(tmp_path):
    model = randomize_bn_statistics(Classifier('xs', num_classes=1000))
    official = _official_keys(model.state_dict())
    assert 'relative_pos_a' in official and 'blocks_c.11.attn.sr.1.running_var' in official
    assert '_fc.weight' in official and 'head.weight' in official
    src = tmp_path / 'cmt_xs.pth'
    torch.save({'model': official, 'epoch': 399}, src)
    meta = convert_checkpoint('cmt', str(src), str(tmp_path / 'converted.pth'))
    assert meta['arch'] == 'xs' and meta['img_size'] == 192 and meta['num_classes'] == 1000
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)['state_dict']
    assert converted.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(converted[key], value), key
    with pytest.raises(ToolError, match='not an official CMT'):
        torch.save({'model': {'features.0.weight': torch.zeros(1)}}, tmp_path / 'bad.pth')
        convert_checkpoint('cmt', str(tmp_path / 'bad.pth'), str(tmp_path / 'bad_out.pth'))


def _build_from_config(name):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(REPO_ROOT, name))
    init_default_scope(cfg.default_scope)
    return cfg, MODELS.build(cfg.model)


def test_official_ti_logits(official_fixtures, tmp_path):
    """Converted official checkpoint (via tools/convert_ckpt.py) -> the official logits."""
    entry, expected = official_fixture(official_fixtures, 'cmt-ti')
    dst = tmp_path / 'cmt-ti_in1k.pth'
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'convert_ckpt.py'), 'cmt',
         osp.join(official_fixtures, entry['checkpoint']), str(dst)],
        capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert 'arch=ti' in result.stdout and 'img_size=160' in result.stdout

    _, model = _build_from_config('configs/cls/cmt/cmt-ti_8xb256-800e_in1k.py')
    assert count_parameters(model) == entry['official_params']
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    inputs = expected['input']
    assert inputs.shape[-1] == entry['input_resolution']
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        assert relative_error(logits, expected['logits']) <= 1e-4
        switch_to_deploy(model)
        assert relative_error(model(inputs, mode='tensor'), expected['logits']) <= 1e-4
        _, deployed = _build_from_config(
            'configs/cls/cmt/deploy/cmt-ti-deploy_8xb256-800e_in1k.py')
        deployed.load_state_dict(model.state_dict(), strict=True)
        deployed.eval()
        assert relative_error(deployed(inputs, mode='tensor'), expected['logits']) <= 1e-4


# --------------------------------------------------------------------------------------------
# Dense-prediction configs at non-square (and odd) sizes
# --------------------------------------------------------------------------------------------
def test_retinanet_config_loss_and_predict_non_square():
    from mmdet.testing import demo_mm_inputs
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    cfg, model = _build_from_config('configs/det/retinanet_cmt-s_fpn_1x_coco.py')
    model = revert_sync_batchnorm(model)
    batch = demo_mm_inputs(batch_size=1, image_shapes=[(3, 100, 150)], num_items=[2],
                           num_classes=cfg.model.bbox_head.num_classes)
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    assert data['inputs'].shape[-2:] == (128, 160)  # padded to 32, non-square
    total, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stages[0].relative_pos.grad is not None
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(copy.deepcopy(batch), False), mode='predict')
    assert len(results) == 1 and 'bboxes' in results[0].pred_instances

    # Swin-like rules: no weight decay on the position biases and on every norm.
    decay = {}
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            decay[names[id(param)]] = group['weight_decay']
    assert decay['backbone.stages.0.relative_pos'] == 0
    assert decay['backbone.stages.2.blocks.0.norm1.weight'] == 0
    assert decay['backbone.stages.1.patch_embed.norm.bias'] == 0
    assert decay['backbone.stem.0.bn.weight'] == 0
    assert decay['backbone.stages.2.blocks.0.attn.q.weight'] == pytest.approx(0.05)


def test_semantic_fpn_config_loss_and_predict_odd_size():
    from mmengine.model import revert_sync_batchnorm
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    cfg, model = _build_from_config('configs/seg/fpn_cmt-s_8xb4-40k_ade20k-512x512.py')
    model = revert_sync_batchnorm(model)
    height, width = 90, 134
    model.data_preprocessor.size = (height, width)  # no padding: keep the odd, non-square size
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(height, width),
                                             ori_shape=(height, width),
                                             pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, height, width)))
        samples.append(sample)
    batch = dict(inputs=inputs, data_samples=samples)
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    assert data['inputs'].shape[-2:] == (height, width)
    total, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(copy.deepcopy(batch), False), mode='predict')
    assert results[0].pred_sem_seg.data.shape[-2:] == (height, width)
