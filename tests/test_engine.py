"""Tests of mmmobile.engine and tools/train.py, tools/test.py, tools/dist_train.sh.

A tiny mmpretrain classifier (ResNet-18 with 8 base channels, 32x32 random images, 2 classes)
trains in about a second on CPU; see tests/data/configs/engine_tiny_cls.py.
"""
import importlib.util
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS as MMENGINE_HOOKS

from mmmobile.engine import (SAFE_GLOBALS, MissingDataError, MobileRunner, SafeCheckpointHook,
                             UnsafeCheckpointError, apply_cpu_fallbacks, check_data_exists,
                             checkpoint_globals, find_missing_data, find_missing_pretrained,
                             find_unsafe_objects, load_checkpoint_file, make_weights_only_safe,
                             missing_pretrained_message, register_safe_globals, run_test,
                             run_train)
from mmmobile.engine.checkpoint import global_name

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'engine_tiny_cls.py')
NO_CUDA = not torch.cuda.is_available()
SAFE_NAMES = {global_name(item) for item in SAFE_GLOBALS}


def _load_tool(name: str):
    """Import tools/<name>.py as a module (its ``main(argv)`` returns the exit status)."""
    spec = importlib.util.spec_from_file_location(f'_mmmobile_tool_{name}',
                                                  osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(**extra) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', CUDA_VISIBLE_DEVICES='', **extra)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _data_options(root: str) -> dict:
    return {f'{split}_dataloader.dataset.data_root': root for split in ('train', 'val', 'test')}


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory) -> str:
    """Two class folders with two random 32x32 PNG images each."""
    from PIL import Image
    root = tmp_path_factory.mktemp('engine_tiny_cls')
    rng = np.random.default_rng(0)
    for name in ('a', 'b'):
        (root / name).mkdir()
        for index in range(2):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f'{index}.png')
    return str(root)


@MMENGINE_HOOKS.register_module(force=True)
class EngineTestProbeHook(Hook):
    """Records the state a run starts training from (registered in mmengine's root HOOKS)."""

    records: list = []

    def before_train(self, runner) -> None:
        loss = runner.message_hub.log_scalars.get('train/loss')
        self.records.append(
            dict(
                iter=runner.iter,
                loss_history=None if loss is None else loss.data[0].copy(),
                optim_state={
                    key: value['momentum_buffer'].clone()
                    for key, value in runner.optim_wrapper.optimizer.state.items()
                },
                scheduler={
                    key: getattr(runner.param_schedulers[0], key)
                    for key in ('last_step', '_global_step')
                }))


# ------------------------------------------------------------------------------------- tools ---


def test_tools_help():
    for tool, expected in (('train.py', ('--resume', '--amp', '--auto-scale-lr', '--launcher',
                                         '--cfg-options', '--work-dir', '--trust-checkpoint')),
                           ('test.py', ('checkpoint', '--out', '--show-dir', '--launcher',
                                        '--cfg-options', '--work-dir'))):
        result = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', tool), '--help'],
                                capture_output=True, text=True, env=_env(), timeout=120)
        assert result.returncode == 0, result.stderr
        for option in expected:
            assert option in result.stdout, (tool, option)


def test_missing_data_stops_with_one_message(tmp_path):
    # End to end: the config's default data_root does not exist.
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), TINY_CONFIG,
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'train_dataloader.dataset.data_root={tmp_path}/absent'],
        capture_output=True, text=True, env=_env(), timeout=120, cwd=str(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Traceback' not in output
    assert output.count('error:') == 1
    assert f'{tmp_path}/absent' in result.stderr
    assert 'train_dataloader.dataset.data_root' in result.stderr
    assert 'python tools/make_demo_data.py' in result.stderr
    assert 'configs/demo/' in result.stderr
    assert not (tmp_path / 'work').exists()  # stopped before the Runner was built


def test_tool_user_errors_exit_nonzero(tmp_path, tiny_data, capsys):
    train_tool, test_tool = _load_tool('train'), _load_tool('test')
    assert train_tool.main([str(tmp_path / 'missing.py')]) == 2
    assert 'config file not found' in capsys.readouterr().err
    assert train_tool.main([TINY_CONFIG, '--resume', str(tmp_path / 'missing.pth')]) == 2
    assert 'resume checkpoint not found' in capsys.readouterr().err
    assert test_tool.main([TINY_CONFIG, str(tmp_path / 'missing.pth')]) == 2
    assert 'checkpoint not found' in capsys.readouterr().err
    with pytest.raises(SystemExit) as error:  # argparse: CHECKPOINT is required
        test_tool.main([TINY_CONFIG])
    assert error.value.code == 2


# --------------------------------------------------------------------------------- data check ---


def test_find_missing_data_follows_wrappers_and_prefixes(tmp_path):
    (tmp_path / 'coco' / 'annotations').mkdir(parents=True)
    (tmp_path / 'coco' / 'train2017').mkdir()
    (tmp_path / 'coco' / 'annotations' / 'train.json').write_text('{}')
    coco = dict(type='CocoDataset', data_root=f'{tmp_path}/coco/',
                ann_file='annotations/train.json', data_prefix=dict(img='train2017/'))
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=dict(
                type='RepeatDataset', times=2,
                dataset=dict(type='ConcatDataset', datasets=[
                    coco, dict(coco, ann_file='annotations/extra.json'),
                    dict(type='ADE20KDataset', data_root=f'{tmp_path}/ade',
                         data_prefix=dict(img_path='images/training'))]))),
            val_dataloader=dict(dataset=dict(coco, data_prefix=dict(img='val2017/'))),
            val_evaluator=dict(type='CocoMetric', ann_file=f'{tmp_path}/coco/annotations/val.json'),
            test_dataloader=None))
    missing = find_missing_data(cfg, ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    assert [(item.path, item.where) for item in missing] == [
        (f'{tmp_path}/coco/annotations/extra.json',
         'train_dataloader.dataset.dataset.datasets[1].ann_file'),
        (f'{tmp_path}/ade', 'train_dataloader.dataset.dataset.datasets[2].data_root'),
        (f'{tmp_path}/coco/val2017/', 'val_dataloader.dataset.data_prefix.img'),
        (f'{tmp_path}/coco/annotations/val.json', 'val_evaluator.ann_file'),
    ]
    assert find_missing_data(cfg, ('test_dataloader', )) == []
    with pytest.raises(MissingDataError) as error:
        check_data_exists(cfg, ('val_dataloader', ))
    message = str(error.value)
    assert f'{tmp_path}/coco/val2017/' in message and 'data/coco' in message
    assert 'python tools/make_demo_data.py' in message
    # Once the data is there, nothing is reported.
    (tmp_path / 'coco' / 'val2017').mkdir()
    (tmp_path / 'coco' / 'annotations' / 'val.json').write_text('{}')
    check_data_exists(cfg, ('val_dataloader', ))


def test_find_missing_pretrained(tmp_path):
    (tmp_path / 'here.pth').write_bytes(b'')
    absent = f'{tmp_path}/absent.pth'
    cfg = Config(
        dict(model=dict(
            backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=absent, prefix='backbone.')),
            neck=dict(init_cfg=[dict(type='Kaiming'),
                                dict(type='Pretrained', checkpoint=absent)]),
            head=dict(init_cfg=dict(type='Pretrained', checkpoint=f'{tmp_path}/here.pth')),
            other=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'),
                       pretrained=absent),
            pretrained='open-mmlab://resnet50_v1c')))
    missing = find_missing_pretrained(cfg)
    assert [m.where for m in missing] == [
        'model.backbone.init_cfg.checkpoint', 'model.neck.init_cfg[1].checkpoint',
        'model.other.pretrained'
    ]
    assert cfg.model.backbone.init_cfg is not None  # only listed
    assert absent in missing_pretrained_message(missing)
    assert len(find_missing_pretrained(cfg, drop=True)) == 3
    assert cfg.model.backbone.init_cfg is None
    assert cfg.model.neck.init_cfg == [dict(type='Kaiming')]
    assert cfg.model.other.pretrained is None and cfg.model.other.init_cfg is not None
    assert cfg.model.head.init_cfg.checkpoint.endswith('here.pth')
    assert find_missing_pretrained(cfg) == []


# ------------------------------------------------------------------------------ CPU fallbacks ---


def _gpu_config() -> Config:
    return Config(
        dict(
            model=dict(
                type='Detector',
                backbone=dict(type='ResNet', norm_cfg=dict(type='SyncBN', requires_grad=True)),
                neck=[dict(type='FPN', norm_cfg=dict(type='MMSyncBN', group=None)),
                      dict(type='Other', norm_cfg=dict(type='GN', num_groups=2))],
                head=dict(blocks=dict(inner=dict(norm_cfg=dict(type='mmdet.SyncBN'))),
                          act_cfg=dict(type='ReLU'))),
            optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                               optimizer=dict(type='SGD', lr=0.1)),
            sync_bn='torch',
            env_cfg=dict(dist_cfg=dict(backend='nccl'))))


def test_cpu_fallbacks_rewrite_amp_syncbn_and_backend():
    cfg = _gpu_config()
    messages = apply_cpu_fallbacks(cfg, launcher='pytorch', cuda_available=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.neck[0].norm_cfg == dict(type='BN')  # MMSyncBN's `group` dropped
    assert cfg.model.neck[1].norm_cfg.type == 'GN'
    assert cfg.model.head.blocks.inner.norm_cfg.type == 'BN'
    assert not cfg.get('sync_bn')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert len(messages) == 5 and any('AMP is refused on CPU' in m for m in messages)
    assert any('3 SyncBN' in m for m in messages)
    # A config's own wrapper is kept; no launcher, no wrapper.
    cfg = _gpu_config()
    cfg.model_wrapper_cfg = dict(type='MMFullyShardedDataParallel')
    apply_cpu_fallbacks(cfg, launcher='pytorch', cuda_available=False)
    assert cfg.model_wrapper_cfg.type == 'MMFullyShardedDataParallel'
    cfg = _gpu_config()
    apply_cpu_fallbacks(cfg, launcher='none', cuda_available=False)
    assert cfg.get('model_wrapper_cfg') is None
    # Nothing changes when CUDA is there.
    cfg = _gpu_config()
    assert apply_cpu_fallbacks(cfg, launcher='pytorch', cuda_available=True) == []
    assert cfg.to_dict() == _gpu_config().to_dict()


@pytest.mark.skipif(not NO_CUDA, reason='SyncBN modules are only reverted without CUDA')
def test_runner_reverts_syncbn_modules_without_cuda():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.SyncBatchNorm(4))
    runner = object.__new__(MobileRunner)  # build_model does not use runner state for modules
    built = runner.build_model(model)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in built.modules())
    assert any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in built.modules())


# ------------------------------------------------------------------------------- checkpoints ---


def _unsafe_checkpoint() -> dict:
    buffer = HistoryBuffer()
    for value in (0.5, 0.25, 0.125):
        buffer.update(value, count=2)
    state_dict = OrderedDict(weight=torch.ones(2))
    state_dict._metadata = OrderedDict({'': dict(version=1)})
    return dict(
        meta=dict(epoch=1, iter=np.int64(3),
                  dataset_meta=dict(palette=np.zeros((2, 3)), classes=('a', 'b')),
                  extra=ConfigDict(scale=np.float32(0.5))),
        state_dict=state_dict,
        message_hub=dict(log_scalars=OrderedDict({'train/loss': buffer}),
                         runtime_info=OrderedDict(eta=np.float64(1.5)), resumed_keys={}),
        param_schedulers=[dict(milestones=Counter([3]))])


def test_make_weights_only_safe(tmp_path):
    raw = _unsafe_checkpoint()
    torch.save(raw, tmp_path / 'raw.pth')
    before = set(checkpoint_globals(str(tmp_path / 'raw.pth')))
    assert {'builtins.getattr', 'numpy.dtype'} <= before
    assert find_unsafe_objects(raw)
    with pytest.raises(Exception):
        torch.load(tmp_path / 'raw.pth')

    safe = make_weights_only_safe(raw)
    assert find_unsafe_objects(safe) == set()
    assert safe['state_dict'] is raw['state_dict']  # weights untouched, not copied
    assert isinstance(raw['meta']['iter'], np.int64)  # input not modified
    torch.save(safe, tmp_path / 'safe.pth')
    assert set(checkpoint_globals(str(tmp_path / 'safe.pth'))) <= SAFE_NAMES
    register_safe_globals()  # what our loaders and SafeCheckpointHook do (importing does not)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(tmp_path / 'safe.pth')) == []

    loaded = torch.load(tmp_path / 'safe.pth')  # weights_only=True (the default)
    assert loaded['meta']['iter'] == 3 and type(loaded['meta']['iter']) is int
    assert loaded['meta']['dataset_meta']['palette'] == [[0.0] * 3] * 2
    assert loaded['meta']['extra'] == {'scale': 0.5}
    assert loaded['state_dict']._metadata == {'': dict(version=1)}
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    original = raw['message_hub']['log_scalars']['train/loss']
    for got, want in zip(buffer.data, original.data):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert buffer.mean() == original.mean() and buffer.max_length == original.max_length
    buffer.update(1.0)  # still a working HistoryBuffer
    assert buffer.current() == 1.0
    assert loaded['message_hub']['runtime_info']['eta'] == 1.5
    assert loaded['param_schedulers'][0]['milestones'] == {3: 1}


def test_trusted_checkpoint_is_an_explicit_opt_in(tmp_path, monkeypatch):
    path = str(tmp_path / 'foreign.pth')
    torch.save(_unsafe_checkpoint(), path)
    monkeypatch.delenv('MMMOBILE_TRUSTED_CHECKPOINT', raising=False)
    original_load = torch.load
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint_file(path)
    assert '--trust-checkpoint' in str(error.value) and path in str(error.value)
    checkpoint = load_checkpoint_file(path, trusted=True)
    assert isinstance(checkpoint['meta']['iter'], np.int64)
    assert torch.load is original_load  # only that one load was trusted
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    monkeypatch.setenv('MMMOBILE_TRUSTED_CHECKPOINT', str(tmp_path / 'other.pth'))
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(path)
    monkeypatch.setenv('MMMOBILE_TRUSTED_CHECKPOINT', path)
    assert load_checkpoint_file(path)['meta']['epoch'] == 1


def test_safe_checkpoint_hook_rewrites_in_place():
    checkpoint = _unsafe_checkpoint()
    SafeCheckpointHook().before_save_checkpoint(None, checkpoint)
    assert find_unsafe_objects(checkpoint) == set()
    assert type(checkpoint['meta']['iter']) is int


# -------------------------------------------------------------------- train, resume and test ---


def test_train_stop_resume_and_test(tmp_path, tiny_data):
    work_dir = str(tmp_path / 'work')
    EngineTestProbeHook.records.clear()
    options = dict(_data_options(tiny_data), experiment_name='engine_resume_first',
                   custom_hooks=[dict(type='EngineTestProbeHook')])
    first = run_train(TINY_CONFIG, work_dir=work_dir, amp=True, cfg_options=options)
    assert first.iter == 2
    if NO_CUDA:  # --amp and the config's SyncBN fell back to fp32 OptimWrapper and BatchNorm
        assert type(first.optim_wrapper).__name__ == 'OptimWrapper'
        assert not any('SyncBatchNorm' in type(m).__name__ for m in first.model.modules())
    saved_loss = first.message_hub.get_scalar('train/loss').data[0].copy()
    assert len(saved_loss) == 2

    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert set(checkpoint_globals(ckpt)) <= SAFE_NAMES
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
    saved = torch.load(ckpt, map_location='cpu')  # weights_only=True
    assert saved['meta']['iter'] == 2

    # Resume (auto-detected from work_dir/last_checkpoint) and train two more iterations.
    options.update(experiment_name='engine_resume_second', **{'train_cfg.max_iters': 4})
    second = run_train(TINY_CONFIG, work_dir=work_dir, resume='auto', cfg_options=options)
    start = EngineTestProbeHook.records[-1]
    assert start['iter'] == 2
    np.testing.assert_array_equal(start['loss_history'], saved_loss)  # message hub restored
    assert start['scheduler'] == {key: saved['param_schedulers'][0][key]
                                  for key in ('last_step', '_global_step')}
    saved_state = saved['optimizer']['state']
    assert len(start['optim_state']) == len(saved_state) > 0
    for value, saved_value in zip(start['optim_state'].values(), saved_state.values()):
        torch.testing.assert_close(value, saved_value['momentum_buffer'])
    assert second.iter == 4
    assert len(second.message_hub.get_scalar('train/loss').data[0]) == 4
    final = torch.load(osp.join(work_dir, 'iter_4.pth'), map_location='cpu')
    assert final['meta']['iter'] == 4

    # Explicit --resume PATH works the same way.
    options.update(experiment_name='engine_resume_third', **{'train_cfg.max_iters': 5})
    third = run_train(TINY_CONFIG, work_dir=str(tmp_path / 'work3'),
                      resume=osp.join(work_dir, 'iter_4.pth'), cfg_options=options)
    assert EngineTestProbeHook.records[-1]['iter'] == 4 and third.iter == 5

    out = str(tmp_path / 'preds.pkl')
    metrics = run_test(TINY_CONFIG, osp.join(work_dir, 'iter_4.pth'),
                       work_dir=str(tmp_path / 'test'), out=out,
                       cfg_options=dict(_data_options(tiny_data),
                                        experiment_name='engine_resume_test'))
    assert 'accuracy/top1' in metrics
    with open(out, 'rb') as f:
        assert len(pickle.load(f)) == 4


# ------------------------------------------------------------------------------- distributed ---


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_process_cpu_training(tmp_path, tiny_data):
    work_dir = tmp_path / 'dist'
    for _ in range(3):  # another process may take the free port before torchrun binds it
        result = subprocess.run(
            ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), TINY_CONFIG, '2',
             '--work-dir', str(work_dir), '--cfg-options'] +
            [f'{key}={value}' for key, value in _data_options(tiny_data).items()],
            capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
            env=_env(PYTHON=sys.executable, PORT=str(_free_port())))
        output = result.stdout + result.stderr
        if 'address already in use' not in output.lower():
            break
    assert result.returncode == 0, output[-4000:]
    assert 'Traceback' not in output
    assert 'gloo backend (launcher pytorch, rank 1 of 2)' in output
    assert 'Distributed training: True' in output
    assert (work_dir / 'iter_2.pth').is_file()
    register_safe_globals()
    assert torch.load(work_dir / 'iter_2.pth', map_location='cpu')['meta']['iter'] == 2
