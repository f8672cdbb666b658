"""tools/infer.py and mmmobile.apis.infer: one demo image per task, fused configs, bad inputs,
and ``tools/test.py --show-dir`` painting every image.

The models are the demo configs with random weights (saved as a checkpoint beside the test), so
the predictions are not meaningful; what is checked is the shape of what is printed and drawn,
the class names, and that a fused deploy config predicts what the unfused model predicts.
"""
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch

from mmmobile.engine import load_config, prepare_test_config
from mmmobile.utils import ToolError, randomize_bn_statistics
from .conftest import REPO_ROOT
from .tool_loader import load_tool

DEMO = osp.join(REPO_ROOT, 'configs', 'demo')
CONFIGS = {
    'classification': osp.join(DEMO, 'repvit-m0.6_demo-in1k.py'),
    'detection': osp.join(DEMO, 'mask-rcnn_repvit-m0.9_fpn_demo-coco.py'),
    'segmentation': osp.join(DEMO, 'fpn_repvit-m0.9_demo-ade20k.py'),
}
CLASSES = ['circle', 'square', 'triangle']


@pytest.fixture(scope='module')
def demo_image(tmp_path_factory):
    from mmmobile.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('infer_demo'))
    make_demo_data(root, tasks=['det'], progress=False, num_train=1, num_val=1, img_size=96)
    return osp.join(root, 'coco', 'val2017', '000000000002.jpg')


def random_checkpoint(task, folder, name='random.pth'):
    """The task's demo model with random weights and BN statistics, saved without dataset meta."""
    from mmmobile.deploy import build_model
    torch.manual_seed(0)
    model = randomize_bn_statistics(build_model(CONFIGS[task]))
    path = osp.join(folder, name)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_classifier_top_k_and_picture(demo_image, tmp_path):
    from mmmobile.apis import infer
    checkpoint = random_checkpoint('classification', str(tmp_path))
    out = str(tmp_path / 'cls.png')
    result = infer(CONFIGS['classification'], checkpoint, demo_image, out=out, device='cpu')
    assert result['task'] == 'classification' and result['out'] == out
    predictions = result['predictions']
    assert [p['name'] for p in predictions] == [CLASSES[p['label']] for p in predictions]
    assert sorted(p['label'] for p in predictions) == [0, 1, 2]  # top-5 of 3 classes
    scores = [p['score'] for p in predictions]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-4)
    picture = mmcv.imread(out)
    assert min(picture.shape[:2]) >= 256  # small images are enlarged for the text
    assert not osp.exists(out + '.tmp') and sorted(p.name for p in tmp_path.iterdir()) == [
        'cls.png', 'random.pth']


def test_detector_cli_prints_and_draws(demo_image, tmp_path, capsys):
    checkpoint = random_checkpoint('detection', str(tmp_path))
    out = str(tmp_path / 'det.png')
    tool = load_tool('infer.py')
    assert tool.main([CONFIGS['detection'], checkpoint, demo_image, '--out', out, '--score-thr',
                      '0', '--device', 'cpu']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = [i for i, line in enumerate(lines) if 'detection(s) above the score threshold' in line]
    assert len(header) == 1 and lines[-1] == f'wrote {out}'
    detections = lines[header[0] + 1:-1]
    assert detections and all('box [' in line and 'mask ' in line for line in detections)
    assert all(any(name in line for name in CLASSES) for line in detections)
    picture, image = mmcv.imread(out), mmcv.imread(demo_image)
    assert picture.shape == image.shape and not np.array_equal(picture, image)

    # the same file again is refused, nothing is touched
    before = osp.getmtime(out)
    assert tool.main([CONFIGS['detection'], checkpoint, demo_image, '--out', out]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and 'exists' in error[0] and osp.getmtime(out) == before


def test_segmentor_label_map(demo_image, tmp_path):
    from mmmobile.apis import infer, summary_lines
    checkpoint = random_checkpoint('segmentation', str(tmp_path))
    out = str(tmp_path / 'seg.jpg')
    result = infer(CONFIGS['segmentation'], checkpoint, demo_image, out=out, device='cpu')
    fractions = [p['fraction'] for p in result['predictions']]
    assert sum(fractions) == pytest.approx(1) and fractions == sorted(fractions, reverse=True)
    assert all(p['name'] == CLASSES[p['label']] for p in result['predictions'])
    assert result['shape'] == list(mmcv.imread(demo_image).shape[:2])
    assert mmcv.imread(out).shape == mmcv.imread(demo_image).shape
    assert summary_lines(result)[0].endswith(f"{len(fractions)} label(s)")


def test_fused_deploy_config_predicts_the_same(demo_image, tmp_path):
    from mmmobile.apis import infer
    from mmmobile.deploy import fuse_checkpoint
    checkpoint = random_checkpoint('classification', str(tmp_path))
    fused_dir = str(tmp_path / 'fused')  # fused.pth + deploy_config.py, as tools/fuse_ckpt.py
    fuse_checkpoint(CONFIGS['classification'], checkpoint, fused_dir, input_shape=(64, 64))
    unfused = infer(CONFIGS['classification'], checkpoint, demo_image, device='cpu')
    fused = infer(osp.join(fused_dir, 'deploy_config.py'), osp.join(fused_dir, 'fused.pth'),
                  demo_image, device='cpu')
    assert [p['label'] for p in fused['predictions']] == [
        p['label'] for p in unfused['predictions']]
    for a, b in zip(fused['predictions'], unfused['predictions']):
        assert a['score'] == pytest.approx(b['score'], rel=1e-4, abs=1e-6)
        assert a['name'] == b['name']


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool('infer.py').parse_args(['--help'])
    assert exit_info.value.code == 0 and '--out' in capsys.readouterr().out


def test_bad_inputs_are_one_line_errors(demo_image, tmp_path, capsys):
    from mmmobile.apis import infer
    checkpoint = random_checkpoint('classification', str(tmp_path))
    with pytest.raises(ToolError, match='image not found'):
        infer(CONFIGS['classification'], checkpoint, str(tmp_path / 'none.jpg'))
    (tmp_path / 'text.jpg').write_text('not an image')
    with pytest.raises(ToolError, match='not a readable image'):
        infer(CONFIGS['classification'], checkpoint, str(tmp_path / 'text.jpg'))
    with pytest.raises(ToolError, match='must name a picture'):
        infer(CONFIGS['classification'], checkpoint, demo_image, out=str(tmp_path / 'out.txt'))
    with pytest.raises(ToolError, match='does not fit the model'):
        infer(CONFIGS['segmentation'], checkpoint, demo_image)  # a classifier's weights

    tool = load_tool('infer.py')
    assert tool.main([CONFIGS['detection'], str(tmp_path / 'none.pth'), demo_image]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"tools/infer.py: error: checkpoint not found: " \
                                   f"{tmp_path / 'none.pth'}"
    assert tool.main([str(tmp_path / 'none.py'), checkpoint, demo_image]) == 2
    assert 'config file not found' in capsys.readouterr().err


@pytest.mark.parametrize('task', sorted(CONFIGS))
def test_show_dir_paints_every_test_image(task, tmp_path):
    """``--show-dir`` sets the visualization hook to draw every sample for every toolbox."""
    cfg = load_config(CONFIGS[task])
    checkpoint = str(tmp_path / 'any.pth')
    torch.save({}, checkpoint)
    prepare_test_config(cfg, CONFIGS[task], checkpoint, show_dir=str(tmp_path / 'vis'))
    hook = cfg.default_hooks.visualization
    assert hook.interval == 1
    assert hook.get('enable', hook.get('draw')) is True


def test_show_dir_paints_every_classifier_image(tmp_path):
    """The failing case of mmpretrain's default (one image in 5000): all five are painted."""
    from mmmobile.demo import make_demo_data
    from mmmobile.engine import run_test
    make_demo_data(str(tmp_path / 'data'), tasks=['cls'], progress=False, num_train=1,
                   num_val=5, img_size=64)
    checkpoint = random_checkpoint('classification', str(tmp_path))
    options = {'test_dataloader.dataset.data_root': str(tmp_path / 'data' / 'imagenet'),
               'test_dataloader.batch_size': 2, 'test_dataloader.num_workers': 0,
               'test_dataloader.persistent_workers': False}
    run_test(CONFIGS['classification'], checkpoint, work_dir=str(tmp_path / 'work'),
             show_dir=str(tmp_path / 'vis'), cfg_options=options)
    painted = [name for _, _, names in os.walk(tmp_path / 'vis') for name in names]
    assert len(painted) == 5 and all(name.endswith('.png') for name in painted)
