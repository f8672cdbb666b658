"""Command-line tools and end-to-end flows on tiny demo data: convert, train, fuse, test.

Slow parts are shared: one small demo data set per session, one short classifier training.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmmobile.demo import make_demo_data
from .conftest import REPO_ROOT

DET_DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'mask-rcnn_repvit-m0.9_fpn_demo-coco.py')
CLS_DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'repvit-m0.6_demo-in1k.py')
SEG_DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'fpn_repvit-m0.9_demo-ade20k.py')


def run_tool(*args, timeout=600):
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    make_demo_data(root, seed=1, progress=False, det_num_train=8, det_num_val=4,
                   det_img_size=128, seg_num_train=8, seg_num_val=4, cls_num_train=24,
                   cls_num_val=12)
    return root


def det_options(root):
    coco = osp.join(root, 'coco') + '/'
    ann = coco + 'annotations/instances_val2017.json'
    return [f'train_dataloader.dataset.data_root={coco}', f'val_dataloader.dataset.data_root={coco}',
            f'test_dataloader.dataset.data_root={coco}', f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}', 'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'test_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'val_dataloader.persistent_workers=False', 'test_dataloader.persistent_workers=False']


def cls_options(root):
    imagenet = osp.join(root, 'imagenet')
    return {'train_dataloader.dataset.data_root': imagenet,
            'val_dataloader.dataset.data_root': imagenet,
            'test_dataloader.dataset.data_root': imagenet,
            'train_dataloader.num_workers': 0, 'val_dataloader.num_workers': 0,
            'test_dataloader.num_workers': 0, 'train_dataloader.batch_size': 8,
            'val_dataloader.batch_size': 12, 'test_dataloader.batch_size': 12,
            'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 2,
            'default_hooks.checkpoint.interval': 2}


@pytest.mark.parametrize('tool', ['benchmark.py', 'compare_metrics.py', 'convert_ckpt.py',
                                  'deploy.py', 'fuse_ckpt.py', 'make_demo_data.py', 'train.py',
                                  'test.py'])
def test_tools_have_help(tool):
    result = run_tool(osp.join('tools', tool), '--help')
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'usage' in result.stdout


def test_convert_ckpt_cli(tmp_path, official_fixtures):
    missing = run_tool('tools/convert_ckpt.py', 'repvit', str(tmp_path / 'nope.pth'),
                       str(tmp_path / 'out.pth'))
    assert missing.returncode == 2  # a missing file, as the other tools
    assert 'checkpoint not found' in missing.stderr and 'Traceback' not in missing.stderr
    assert not (tmp_path / 'out.pth').exists()

    unknown = run_tool('tools/convert_ckpt.py', 'resnet', 'a.pth', 'b.pth')
    assert unknown.returncode == 2 and 'invalid choice' in unknown.stderr

    dst = tmp_path / 'repvit-m0.6.pth'
    result = run_tool('tools/convert_ckpt.py', 'repvit',
                      osp.join(official_fixtures, 'repvit-m0.6.pth'), str(dst))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'legacy_repvggdw=False' in result.stdout
    checkpoint = torch.load(dst, weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    keys = checkpoint['state_dict'].keys()
    assert all(k.startswith(('backbone.', 'head.')) for k in keys)
    assert os.listdir(tmp_path) == [dst.name]  # no temporary files left


def test_converted_checkpoint_initialises_a_detector_backbone(tmp_path, official_fixtures):
    """The converted file works as init_cfg=Pretrained(prefix='backbone.') in a det config."""
    from mmmobile import convert_checkpoint
    from mmmobile.deploy import build_model
    from mmmobile.engine import load_config
    dst = str(tmp_path / 'repvit-m0.6.pth')
    convert_checkpoint('repvit', osp.join(official_fixtures, 'repvit-m0.6.pth'), dst)
    cfg = load_config(DET_DEMO)
    cfg.model.backbone.update(arch='m0_6', init_cfg=dict(type='Pretrained', checkpoint=dst,
                                                         prefix='backbone.'))
    cfg.model.neck.in_channels = [40, 80, 160, 320]
    model = build_model(cfg)
    model.init_weights()
    expected = torch.load(dst, weights_only=True)['state_dict']
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, expected['backbone.' + key]), key


@pytest.fixture(scope='session')
def trained_classifier(demo_root, tmp_path_factory):
    """Two epochs of the demo classifier through the train API (what tools/train.py runs)."""
    from mmmobile.engine import run_train
    work_dir = str(tmp_path_factory.mktemp('cls_run'))
    run_train(CLS_DEMO, work_dir=work_dir, cfg_options=cls_options(demo_root))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    return work_dir, checkpoint


def test_short_training_on_demo_data(trained_classifier):
    work_dir, checkpoint = trained_classifier
    assert osp.basename(checkpoint) == 'epoch_2.pth'
    state = torch.load(checkpoint, weights_only=True)  # safe to load without trusting it
    assert state['meta']['epoch'] == 2


def test_fused_checkpoint_reloads_with_deploy_config(trained_classifier, demo_root, tmp_path):
    from mmmobile.deploy import build_model
    from mmmobile.engine import run_test
    work_dir, checkpoint = trained_classifier
    out_dir = tmp_path / 'fused'
    result = run_tool('tools/fuse_ckpt.py', CLS_DEMO, checkpoint, str(out_dir), '--shape', '64',
                      '64')
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out_dir / 'report.json').read_text())
    assert report['params_after'] < report['params_before']
    assert report['fuse_relative_difference'] <= 1e-5
    assert f'wrote {out_dir}' in result.stdout

    config, fused_checkpoint = str(out_dir / 'deploy_config.py'), str(out_dir / 'fused.pth')
    deployed = build_model(config, fused_checkpoint)
    assert deployed.backbone.deploy and deployed.head.deploy
    options = {k: v for k, v in cls_options(demo_root).items() if k.startswith('test')}
    unfused = run_test(CLS_DEMO, checkpoint, work_dir=str(tmp_path / 't1'), cfg_options=options)
    fused = run_test(config, fused_checkpoint, work_dir=str(tmp_path / 't2'),
                     cfg_options=options)
    assert fused == pytest.approx(unfused)


def test_mmdet_own_train_tool_accepts_our_config(demo_root, tmp_path):
    """mmdet's packaged tools/train.py trains one of our det configs for a few iterations."""
    import mmdet
    mmdet_train = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    work_dir = tmp_path / 'mmdet_run'
    result = run_tool(mmdet_train, DET_DEMO, '--work-dir', str(work_dir), '--cfg-options',
                      *det_options(demo_root), 'train_cfg.max_iters=3',
                      'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3')
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'iter_3.pth').exists()
    logs = list(work_dir.glob('*/vis_data/scalars.json'))
    assert logs
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any('coco/bbox_mAP' in record for record in records)


def test_card_entry_point_trains_with_demo_paths(demo_root, tmp_path):
    """The README command: configs/det/repvit_maskrcnn.py trains on demo data via cfg-options."""
    classes = '[circle,square,triangle]'
    options = det_options(demo_root) + [
        f'train_dataloader.dataset.metainfo.classes={classes}',
        f'val_dataloader.dataset.metainfo.classes={classes}',
        f'test_dataloader.dataset.metainfo.classes={classes}',
        'model.roi_head.bbox_head.num_classes=3', 'model.roi_head.mask_head.num_classes=3',
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=2',
        'val_dataloader.dataset.indices=1', 'test_dataloader.dataset.indices=1',
        'param_scheduler.0.end=2']
    result = run_tool('tools/train.py', osp.join('configs', 'det', 'repvit_maskrcnn.py'),
                      '--work-dir', str(tmp_path / 'card'), '--cfg-options', *options)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert 'pretrained weights not found, training from random initialisation' in output
    assert (tmp_path / 'card' / 'epoch_1.pth').exists()


def test_two_process_cpu_training_of_a_demo_config(demo_root, tmp_path):
    """tools/dist_train.sh (torchrun, --launcher pytorch, gloo on CPU) trains the demo classifier."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    options = [f'{k}={v}' for k, v in cls_options(demo_root).items()]
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', OMP_NUM_THREADS='1', PORT=str(port),
               PYTHON=sys.executable)
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', CLS_DEMO, '2', '--work-dir', str(tmp_path / 'dist'),
         '--cfg-options', *options], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'dist' / 'epoch_2.pth').exists()
