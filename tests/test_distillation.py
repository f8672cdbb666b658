"""DistillationClassifier (DeiT-style distillation for any mmpretrain classifier) and AGC."""
import copy
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner.checkpoint import get_state_dict

from mmmobile.registry import MODELS
from mmmobile.utils import ToolError
from .conftest import REPO_ROOT

pytest.importorskip('mmpretrain')
from mmpretrain.structures import DataSample  # noqa: E402

NUM_CLASSES = 5
SMOOTH = 0.1
TINY_ARCH = dict(channels=[16, 24, 32, 40], num_blocks=[2, 1, 2, 1])
PREPROCESSOR = dict(type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES,
                    mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
# A tiny mmpretrain teacher of another family (ResNet-18 with 8 base channels).
TEACHER = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=64))
DEMO_STUDENT = osp.join(REPO_ROOT, 'configs', 'demo', 'repvit-m0.6_distill_demo-in1k.py')
DEMO_TEACHER = osp.join(REPO_ROOT, 'configs', 'demo', 'repvit-m0.9_demo-in1k.py')
DEIT_TEACHER = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'regnety-160_deit-teacher.py')


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Bare names in these configs are mmpretrain's, as under mmpretrain's runner (an earlier
    detector test leaves mmdet's default scope active)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def teacher_ckpt(tmp_path):
    torch.manual_seed(1)
    teacher = MODELS.build(dict(TEACHER, type='mmpretrain.ImageClassifier'))
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, path)
    return path


def build_student(teacher_ckpt=None, distill_mode='hard', distillation=True, augment=None,
                  teacher=TEACHER, **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='mmmobile.DistillationClassifier',
        backbone=dict(type='mmmobile.RepViT', arch=TINY_ARCH, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='mmmobile.RepViTClsHead', num_classes=NUM_CLASSES, in_channels=40,
                  distillation=distillation,
                  loss=dict(type='LabelSmoothLoss', label_smooth_val=SMOOTH, mode='original')),
        data_preprocessor=copy.deepcopy(PREPROCESSOR),
        train_cfg=dict(augments=[augment]) if augment else None,
        teacher=teacher if distill_mode != 'none' else None,
        teacher_ckpt=teacher_ckpt,
        distill_mode=distill_mode,
        **kwargs)
    return MODELS.build(cfg)


def batch(num=4, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), generator=generator, dtype=torch.uint8)
              for _ in range(num)]
    samples = [DataSample().set_gt_label(i % NUM_CLASSES) for i in range(num)]
    return dict(inputs=inputs, data_samples=samples)


def smoothed_ce(logits, soft_target):
    """Label-smoothed cross-entropy on soft targets, written out (timm SoftTargetCrossEntropy of
    the smoothed mixup target, as the official trainers compute it)."""
    target = soft_target * (1 - SMOOTH) + SMOOTH / logits.shape[1]
    return -(target * logits.log_softmax(1)).sum(1).mean()


def record_inputs(module, store):
    return module.register_forward_pre_hook(lambda _, args: store.append(args[0].detach()))


@pytest.mark.parametrize('augment', [dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)])
@pytest.mark.parametrize('mode,distillation', [('hard', True), ('soft', True), ('none', True),
                                                ('hard', False), ('none', False)])
def test_loss_equals_hand_computation(teacher_ckpt, augment, mode, distillation):
    alpha, tau = 0.3, 2.0
    model = build_student(teacher_ckpt, mode, distillation, augment, alpha=alpha, tau=tau)
    model.train()
    torch.manual_seed(3)  # the mixing coefficient and permutation
    data = model.data_preprocessor(batch(), True)
    target = torch.stack([sample.gt_score for sample in data['data_samples']])
    assert ((target > 0) & (target < 1)).any(), 'the batch was not mixed'
    losses = model(**data, mode='loss')

    feats = model.extract_feat(data['inputs'])
    logits = model.head.branch_logits(feats)
    assert len(logits) == (2 if distillation else 1)
    class_logits, dist_logits = logits[0], logits[-1]
    if mode == 'none':
        if distillation:
            expected = ((1 - alpha) * smoothed_ce(class_logits, target),
                        alpha * smoothed_ce(dist_logits, target))
        else:
            expected = (smoothed_ce(class_logits, target), )
    else:
        with torch.no_grad():
            teacher_logits = model.get_teacher()(data['inputs'], mode='tensor')
        if mode == 'hard':
            picked = dist_logits.log_softmax(1).gather(1, teacher_logits.argmax(1, keepdim=True))
            kd = -picked.mean()
        else:
            p_teacher = (teacher_logits / tau).softmax(1)
            kl = p_teacher * ((teacher_logits / tau).log_softmax(1) -
                              (dist_logits / tau).log_softmax(1))
            kd = kl.sum() * tau * tau / dist_logits.numel()
        expected = ((1 - alpha) * smoothed_ce(class_logits, target), alpha * kd)
    got = [losses['loss_cls']] + ([losses['loss_distill']] if 'loss_distill' in losses else [])
    assert len(got) == len(expected)
    for value, reference in zip(got, expected):
        assert torch.allclose(value, reference, rtol=1e-5, atol=1e-7)


def test_distillation_loss_on_fixed_logits():
    model = build_student(None, 'none')
    student = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0, 3.0]])
    teacher = torch.tensor([[0.0, 4.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 2.0, 0.0]])
    model.distill_mode = 'hard'  # argmax 1 and 3
    log_p = student.log_softmax(1)
    assert torch.allclose(model.distillation_loss(student, teacher),
                          -(log_p[0, 1] + log_p[1, 3]) / 2)
    model.distill_mode, model.tau = 'soft', 3.0
    p_t, log_p_s = (teacher / 3).softmax(1), (student / 3).log_softmax(1)
    expected = (p_t * (p_t.log() - log_p_s)).sum() * 9 / 10
    assert torch.allclose(model.distillation_loss(student, teacher), expected)


def test_teacher_sees_the_mixed_batch_and_stays_frozen(teacher_ckpt):
    model = build_student(teacher_ckpt, 'hard', augment=dict(type='CutMix', alpha=1.0))
    model.train()
    teacher = model.get_teacher()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    frozen = copy.deepcopy(teacher.state_dict())
    student_seen, teacher_seen = [], []
    record_inputs(model.backbone, student_seen)
    record_inputs(teacher, teacher_seen)
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-2)))
    before = copy.deepcopy(model.state_dict())
    for step in range(2):
        torch.manual_seed(step)
        log_vars = model.train_step(batch(seed=step), optim_wrapper)
        assert {'loss_cls', 'loss_distill'} <= set(log_vars)
    assert len(student_seen) == len(teacher_seen) == 2
    for seen_by_student, seen_by_teacher in zip(student_seen, teacher_seen):
        assert torch.equal(seen_by_student, seen_by_teacher)
    raw = model.data_preprocessor(batch(seed=1), False)['inputs']
    assert not torch.equal(raw, teacher_seen[1]), 'cutmix did not change the batch'
    assert not teacher.training
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, frozen[key]), key
    assert any(not torch.equal(value, before[key]) for key, value in model.state_dict().items())


def test_teacher_outside_weights_copies_fusion_and_exports(teacher_ckpt):
    import mmmobile
    plain = MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='mmmobile.RepViT', arch=TINY_ARCH, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='mmmobile.RepViTClsHead', num_classes=NUM_CLASSES, in_channels=40)))
    model = build_student(teacher_ckpt, 'hard')
    model.init_weights()  # what the runner calls: builds and loads the teacher
    assert model.get_teacher() is not None
    keys = set(get_state_dict(model))  # what mmengine's save_checkpoint writes
    assert keys == set(model.state_dict()) == set(plain.state_dict())
    teacher_params = {id(p) for p in model.get_teacher().parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in plain.parameters())
    ema_copy = copy.deepcopy(model)  # mmengine's EMAHook averages a deep copy
    assert ema_copy._teacher.module is None
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    expected = model(x)
    fused = mmmobile.switch_to_deploy(model)
    assert fused.head.deploy and fused.get_teacher() is not None
    assert all(not any(m is t for t in fused.get_teacher().modules()) for m in fused.modules())
    assert torch.allclose(fused(x), expected, rtol=1e-4, atol=1e-5)
    from mmmobile.deploy import export_wrapper
    wrapper = export_wrapper(fused)
    exported = {id(p) for p in wrapper.parameters()}
    assert exported and not exported & teacher_params


def test_fuse_and_trace_never_build_the_teacher(tmp_path):
    """tools/test.py and tools/deploy.py work without the teacher's file."""
    import mmmobile
    from mmmobile.deploy import export_wrapper
    model = build_student(str(tmp_path / 'absent.pth'), 'hard').eval()
    wrapper = export_wrapper(mmmobile.switch_to_deploy(model))
    traced = torch.jit.trace(wrapper, torch.randn(1, 3, 32, 32))
    assert traced is not None and model._teacher.module is None


def test_teacher_checkpoint_layouts_and_errors(tmp_path):
    timm = pytest.importorskip('timm')
    reference = timm.create_model('regnety_002', pretrained=False, num_classes=NUM_CLASSES)
    deit_layout = str(tmp_path / 'deit.pth')  # {'model': state dict in timm naming}, as DeiT's
    torch.save({'model': reference.state_dict()}, deit_layout)
    model = build_student(deit_layout, teacher=dict(
        type='TimmClassifier', model_name='regnety_002', num_classes=NUM_CLASSES))
    for key, value in model.get_teacher().state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key

    model = build_student(str(tmp_path / 'missing.pth'), 'hard')
    with pytest.raises(ToolError, match='teacher checkpoint not found: .*missing.pth'):
        model.init_weights()
    with pytest.raises(ToolError, match='teacher has no weights'):
        build_student(None, 'hard').init_weights()
    with pytest.raises(ValueError, match='distill_mode'):
        build_student(None, 'medium')
    with pytest.raises(ValueError, match='needs a teacher'):
        MODELS.build(dict(type='mmmobile.DistillationClassifier',
                          backbone=dict(type='mmmobile.RepViT', arch=TINY_ARCH)))


def test_deit_teacher_config_is_timms_regnety_160_of_deit():
    """The teacher config is the timm model whose weights timm itself loads from DeiT's file."""
    timm = pytest.importorskip('timm')
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    cfg = Config.fromfile(DEIT_TEACHER).model
    deit = timm.models.get_pretrained_cfg('regnety_160.deit_in1k')
    assert deit.url.endswith('/regnety_160-a5fe301d.pth') and deit.num_classes == cfg.num_classes
    teacher = PRETRAIN_MODELS.build(cfg)
    assert sum(p.numel() for p in teacher.parameters()) == 83_590_140
    # Saved and loaded in timm's own naming (what the DeiT file holds under 'model').
    assert set(teacher.state_dict()) == set(teacher.model.state_dict())


def test_deit_head_distils_both_tokens(teacher_ckpt):
    """mmpretrain's distilled DeiT, which its DeiTClsHead.loss refuses to train, trains here."""
    model = MODELS.build(dict(
        type='mmmobile.DistillationClassifier',
        backbone=dict(type='DistilledVisionTransformer', img_size=32, patch_size=16,
                      arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                feedforward_channels=64)),
        neck=None,
        head=dict(type='DeiTClsHead', num_classes=NUM_CLASSES, in_channels=32),
        data_preprocessor=copy.deepcopy(PREPROCESSOR),
        teacher=TEACHER, teacher_ckpt=teacher_ckpt))
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    cls_logits, dist_logits = model.branch_logits(model.extract_feat(data['inputs']))
    labels = torch.arange(4) % NUM_CLASSES
    teacher_labels = model.teacher_logits(data['inputs']).argmax(1)
    assert torch.allclose(losses['loss_cls'], 0.5 * F.cross_entropy(cls_logits, labels))
    assert torch.allclose(losses['loss_distill'], 0.5 * F.cross_entropy(dist_logits,
                                                                        teacher_labels))


def _agc_model():
    torch.manual_seed(0)
    model = build_student(None, 'none')
    for param in model.parameters():
        param.grad = torch.randn_like(param) * 3
    return model


@pytest.mark.parametrize('wrapper', ['OptimWrapper', 'mmengine.OptimWrapper'])
def test_agc_equals_timm_on_all_parameters(wrapper):
    adaptive_clip_grad = pytest.importorskip('timm.utils.agc').adaptive_clip_grad
    ours, official = _agc_model(), _agc_model()
    original = {name: p.grad.clone() for name, p in ours.named_parameters()}
    optim_wrapper = build_optim_wrapper(ours, dict(
        type=wrapper, constructor='mmmobile.AGCOptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.0, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
        clip_grad=dict(type='agc', clip_factor=0.02)))
    optim_wrapper.step()
    # The official RepViT engine clips all of model.parameters(), the classifier included.
    adaptive_clip_grad(official.parameters(), clip_factor=0.02)
    clipped = set()
    for (name, param), reference in zip(ours.named_parameters(), official.parameters()):
        assert torch.equal(param.grad, reference.grad), name
        if not torch.equal(param.grad, original[name]):
            clipped.add(name.split('.')[0])
    assert clipped == {'backbone', 'head'}


def test_agc_constructor_passes_other_clipping_through():
    model = _agc_model()
    optim_wrapper = build_optim_wrapper(model, dict(
        constructor='mmmobile.AGCOptimWrapperConstructor', optimizer=dict(type='SGD', lr=0.0),
        clip_grad=dict(max_norm=1.0)))
    optim_wrapper.step()
    total = torch.stack([p.grad.norm() for p in model.parameters()]).norm()
    assert total == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match='unknown'):
        build_optim_wrapper(model, dict(
            constructor='mmmobile.AGCOptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=0.0), clip_grad=dict(type='agc', max_norm=1.0)))


def test_distillation_demo_config_trains_and_tests(tmp_path):
    """A few iterations of the demo student distilled from the (small) demo teacher config."""
    from mmmobile.demo import make_demo_data
    from mmmobile.engine import run_test, run_train
    root = str(tmp_path / 'demo')
    make_demo_data(root, seed=2, progress=False, tasks=['cls'], cls_num_train=8, cls_num_val=4)
    torch.manual_seed(0)
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    teacher = PRETRAIN_MODELS.build(Config.fromfile(DEMO_TEACHER).model)
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, teacher_ckpt)
    data_root = osp.join(root, 'imagenet')
    options = {
        'model.teacher_ckpt': teacher_ckpt, 'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1, 'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1}
    for split in ('train', 'val', 'test'):
        options.update({f'{split}_dataloader.dataset.data_root': data_root,
                        f'{split}_dataloader.batch_size': 4,
                        f'{split}_dataloader.num_workers': 0,
                        f'{split}_dataloader.persistent_workers': False})
    work_dir = str(tmp_path / 'work')
    run_train(DEMO_STUDENT, work_dir=work_dir, cfg_options=options)
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    state = torch.load(checkpoint, weights_only=True)
    assert state['state_dict'] and all(
        key.startswith(('backbone.', 'head.')) for key in state['state_dict'])
    (log, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(log) as f:
        assert 'loss_distill' in f.read()
    # tools/test.py evaluates the student; the teacher is never built, its file not needed.
    options['model.teacher_ckpt'] = str(tmp_path / 'gone.pth')
    metrics = run_test(DEMO_STUDENT, checkpoint, work_dir=str(tmp_path / 'test'),
                       cfg_options={k: v for k, v in options.items()
                                    if not k.startswith(('train', 'val'))})
    assert 'accuracy/top1' in metrics


def test_builds_and_loads_its_teacher_under_another_default_scope(teacher_ckpt):
    """mmdet's default scope active (a detector built first): the student's mmpretrain parts
    and the teacher still resolve their bare names in mmpretrain."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = build_student(teacher_ckpt, 'hard')
        model.init_weights()
        assert type(model.get_teacher()).__name__ == 'ImageClassifier'
