"""The bad-input matrix (issue 12): every bad file, bad config and crash ends in one clear line,
and nothing a user owns is lost.

Each case checks the exit status (or the raised ``ToolError``), that the message is one line
naming the file or key, and that nothing was written or removed. The library functions are
called in-process; tools run in-process through their ``main`` (an escaping exception fails the
test), and in a subprocess only where the process itself is the point (a traceback on stderr,
a SIGKILL).
"""
import copy
import importlib.util
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS as MMENGINE_HOOKS

from mmmobile import switch_to_deploy
from mmmobile.deploy import build_model
from mmmobile.engine import NonFiniteLossError, run_train
from mmmobile.engine.resume import find_resume_checkpoint
from mmmobile.utils import ToolError
from mmmobile.utils.checkpoints import (check_pretrained, load_weights, read_checkpoint,
                                        state_dict_of)
from mmmobile.utils.configs import read_config
from mmmobile.utils.io import MANIFEST_NAME, check_output_folder, output_folder
from .conftest import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'tests', 'data', 'configs')
CLS = osp.join(CONFIGS, 'faults_repvit_cls.py')
CLS_DEPLOY = osp.join(CONFIGS, 'faults_repvit_cls_deploy.py')
SEG = osp.join(CONFIGS, 'faults_tiny_seg.py')
TINY_CLS = osp.join(CONFIGS, 'engine_tiny_cls.py')


def _env() -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE', OMP_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='')
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_faults_tool_{name}',
                                                  osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_tool(name: str, argv, monkeypatch, capsys):
    """Run ``tools/<name>.py`` in-process; return (exit status, the stderr line)."""
    module = _tool(name)
    monkeypatch.setattr(sys, 'argv', [f'tools/{name}.py', *map(str, argv)])
    try:
        status = module.main()
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err.strip()
    return status, err


def _one_line(text: str, *needles: str) -> None:
    assert text and '\n' not in text and 'Traceback' not in text, text
    for needle in needles:
        assert needle in text, (needle, text)


def _tree(folder) -> dict:
    """Every file below ``folder`` and its bytes (to show nothing changed)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                found[osp.relpath(path, folder)] = f.read()
    return found


@pytest.fixture(scope='module')
def cls_images(tmp_path_factory) -> str:
    from PIL import Image
    root = tmp_path_factory.mktemp('faults_cls')
    rng = np.random.default_rng(0)
    for name in ('a', 'b'):
        (root / name).mkdir()
        for index in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                root / name / f'{index}.png')
    return str(root)


@pytest.fixture(scope='module')
def seg_images(tmp_path_factory) -> str:
    from PIL import Image
    root = tmp_path_factory.mktemp('faults_seg')
    (root / 'img').mkdir()
    (root / 'ann').mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            root / 'img' / f'{index}.png')
        Image.fromarray(rng.integers(0, 2, (64, 64), dtype=np.uint8)).save(
            root / 'ann' / f'{index}.png')
    return str(root)


@pytest.fixture(scope='module')
def files(tmp_path_factory) -> dict:
    """Broken files and checkpoints of other variants, families and forms."""
    root = tmp_path_factory.mktemp('faults_files')
    model = build_model(CLS)
    good = root / 'm0.6.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, good)
    data = good.read_bytes()
    legacy = root / 'legacy.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, legacy, _use_new_zipfile_serialization=False)
    paths = dict(good=good, folder=root / 'folder', empty=root / 'empty.pth',
                 truncated=root / 'truncated.pth', legacy_truncated=root / 'legacy_cut.pth',
                 text=root / 'notes.pth', html=root / 'page.pth', unsafe=root / 'unsafe.pth',
                 official=root / 'official.pth', fused=root / 'fused.pth',
                 m09=root / 'm0.9.pth', mobilevit=root / 'mobilevitv3.pth')
    paths['folder'].mkdir()
    paths['empty'].write_bytes(b'')
    paths['truncated'].write_bytes(data[:len(data) // 2])
    paths['legacy_truncated'].write_bytes(legacy.read_bytes()[:2000])
    paths['text'].write_text('url: https://example.com/repvit.pth\n')
    paths['html'].write_text('<!DOCTYPE html><html><body>404 Not Found</body></html>')
    torch.save({'state_dict': model.state_dict(), 'meta': {'iter': np.int64(3)}},
               paths['unsafe'])
    torch.save({'model': {'features.0.weight': torch.ones(2)}}, paths['official'])
    torch.save({'state_dict': switch_to_deploy(copy.deepcopy(model)).state_dict()},
               paths['fused'])
    cfg = read_config(CLS, {'model.backbone.arch': 'm0_9', 'model.head.in_channels': 384})
    torch.save({'state_dict': build_model(cfg).state_dict()}, paths['m09'])
    cfg = read_config(CLS, {'model.backbone': dict(type='mmmobile.MobileViTv3', arch='xxs')})
    torch.save({'state_dict': build_model(cfg).state_dict()}, paths['mobilevit'])
    return {key: str(value) for key, value in paths.items()}


# ------------------------------------------------------------------------- checkpoint files ---

UNREADABLE = [
    ('missing', 2, 'checkpoint not found: '),
    ('folder', 1, 'is a folder, not a checkpoint file'),
    ('empty', 1, 'is empty (0 bytes)'),
    ('truncated', 1, 'is truncated or damaged'),
    ('legacy_truncated', 1, 'is truncated'),
    ('text', 1, "is a text file, not a PyTorch checkpoint (it starts with 'url: https"),
    ('html', 1, 'is an HTML/XML page, not a checkpoint (a failed download?'),
    ('unsafe', 1, 'refused checkpoint'),
    ('official', 1, "keeps its weights under 'model'"),
]


@pytest.mark.parametrize('kind, status, message', UNREADABLE)
def test_unreadable_checkpoint_is_one_line(files, kind, status, message):
    path = files.get(kind, files['folder'] + '/missing.pth')
    with pytest.raises(ToolError) as error:
        state_dict_of(read_checkpoint(path), path)
    _one_line(str(error.value), message, path)
    assert error.value.exit_code == status
    if kind == 'unsafe':
        assert '--trust-checkpoint' in str(error.value)
        assert read_checkpoint(path, trusted=True)['meta']['iter'] == 3


def test_every_tool_reports_a_truncated_checkpoint(files, tmp_path, monkeypatch, capsys):
    bad = files['truncated']
    cases = [
        ('convert_ckpt', ['repvit', bad, tmp_path / 'out.pth']),
        ('fuse_ckpt', [CLS, bad, tmp_path / 'fused']),
        ('deploy', [CLS, bad, '--out', tmp_path / 'deploy']),
    ]
    for tool, argv in cases:
        status, err = _run_tool(tool, argv, monkeypatch, capsys)
        assert status == 1, (tool, err)
        _one_line(err, f'{tool}: error: checkpoint {bad} is truncated')
    assert os.listdir(tmp_path) == []  # nothing written


def test_fuse_ckpt_explains_a_weights_only_refusal(files, tmp_path, monkeypatch, capsys):
    status, err = _run_tool('fuse_ckpt', [CLS, files['unsafe'], tmp_path / 'fused'],
                            monkeypatch, capsys)
    assert status == 1
    _one_line(err, f"refused checkpoint {files['unsafe']}", '--trust-checkpoint')
    status, err = _run_tool('fuse_ckpt', [CLS, files['unsafe'], tmp_path / 'fused',
                                          '--trust-checkpoint', '--shape', '32', '32'],
                            monkeypatch, capsys)
    assert status == 0, err
    assert (tmp_path / 'fused' / 'fused.pth').is_file()


MISMATCHED = [
    ('m09', CLS, "it holds a RepViT arch 'm0_9' backbone; the config builds RepViT arch 'm0_6'"),
    ('mobilevit', CLS, "it holds a MobileViTv3 arch 'xxs' backbone; the config builds RepViT"),
    ('fused', CLS, 'it is a fused (deploy) checkpoint and the config builds the training form'),
    ('good', CLS_DEPLOY, 'it is a training (unfused) checkpoint and the config builds the fused'),
]


@pytest.mark.parametrize('kind, config, message', MISMATCHED)
def test_checkpoint_of_another_model_is_named(files, kind, config, message):
    with pytest.raises(ToolError) as error:
        build_model(config, files[kind])
    _one_line(str(error.value), f'checkpoint {files[kind]} does not fit the model of {config}',
              message)


def test_test_tool_refuses_a_checkpoint_of_another_variant(files, cls_images, tmp_path,
                                                           monkeypatch, capsys):
    status, err = _run_tool('test', [CLS, files['m09'], '--work-dir', tmp_path / 'work',
                                     '--cfg-options', f'test_dataloader.dataset.data_root='
                                     f'{cls_images}'], monkeypatch, capsys)
    assert status == 1
    _one_line(err, 'tools/test.py: error: ', "it holds a RepViT arch 'm0_9' backbone")


# ------------------------------------------------------------------------------- configs ---


def _broken_configs(tmp_path) -> dict:
    (tmp_path / 'syntax.py').write_text("_base_ = ['%s']\nmodel = dict(type='x',,)\n" % CLS)
    (tmp_path / 'no_base.py').write_text("_base_ = ['./_base_/gone.py']\n")
    (tmp_path / 'name.py').write_text('a = 1\nb = undefined_name + 1\n')
    return {name: str(tmp_path / f'{name}.py') for name in ('syntax', 'no_base', 'name')}


def test_unreadable_config_is_one_line(tmp_path):
    broken = _broken_configs(tmp_path)
    cases = [
        (str(tmp_path / 'nope.py'), f'config file not found: {tmp_path}/nope.py'),
        (broken['syntax'], f"config {broken['syntax']}, line 2: syntax error: invalid syntax: "
                           "model = dict(type='x',,)"),
        (broken['no_base'], f"config {broken['no_base']}: its _base_ {tmp_path}/_base_/gone.py "
                            'does not exist'),
        (broken['name'], f"config {broken['name']}, line 2: NameError: name 'undefined_name' "
                         'is not defined'),
    ]
    for path, message in cases:
        with pytest.raises(ToolError) as error:
            read_config(path)
        _one_line(str(error.value), message)
        assert error.value.exit_code == 2


BUILD_MISTAKES = [
    ({'model.backbone.archh': 'm0_6'},
     "model.backbone (RepViT): unexpected keyword 'archh' (did you mean 'arch'?); RepViT "
     'accepts: arch, in_channels, out_indices'),
    ({'model.backbone.type': 'mmmobile.RepVit'},
     "model.backbone.type: 'mmmobile.RepVit' is not registered in the mmmobile::model registry; "
     'closest registered names: mmmobile.RepViT'),
    ({'model.neck.type': 'GlobalAvgPooling'},
     "model.neck.type: 'GlobalAvgPooling' is not registered in the mmpretrain::model registry; "
     'closest registered names: GlobalAveragePooling'),
    ({'model.head.in_channel': 320},
     "model.head (LinearClsHead): unexpected keyword 'in_channel' (did you mean "
     "'in_channels'?); LinearClsHead accepts: num_classes, in_channels"),
    ({'model.backbone.arch': 'm0_7'},
     "model.backbone (RepViT): Unknown RepViT arch 'm0_7'; choose one of"),
]


@pytest.mark.parametrize('options, message', BUILD_MISTAKES)
def test_config_mistake_is_one_line(options, message):
    with pytest.raises(ToolError) as error:
        build_model(read_config(CLS, options))
    _one_line(str(error.value), message)


def test_misspelled_keyword_through_train_tool_is_one_line(seg_images, tmp_path):
    """The whole process: exit status 2, one stderr line, no traceback, nothing trained."""
    work = tmp_path / 'work'
    result = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), SEG, '--work-dir', str(work),
         '--cfg-options', f'train_dataloader.dataset.data_root={seg_images}',
         'model.backbone.archh=m0_6'], capture_output=True, text=True, env=_env(), timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith('tools/train.py')]
    assert lines == ["tools/train.py: error: model.backbone (RepViT): unexpected keyword 'archh' "
                     "(did you mean 'arch'?); RepViT accepts: arch, in_channels, out_indices, "
                     'out_taps, frozen_stages, norm_eval, with_cp, drop_path_rate, '
                     'legacy_repvggdw, deploy, init_cfg']
    assert not work.exists() or not any(name.endswith('.pth') for name in os.listdir(work))


# ------------------------------------------------------------------------ what users own ---


def test_output_folder_replaces_only_our_own_output(tmp_path):
    out = tmp_path / 'out'
    with output_folder(str(out), tool='test') as staging:
        with open(osp.join(staging, 'result.txt'), 'w') as f:
            f.write('first')
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, 'result.txt']
    with pytest.raises(ToolError, match='already holds results of test; pass --overwrite'):
        check_output_folder(str(out))
    with pytest.raises(RuntimeError, match='crash'):  # a failure keeps the old result
        with output_folder(str(out), overwrite=True) as staging:
            with open(osp.join(staging, 'result.txt'), 'w') as f:
                f.write('half')
            raise RuntimeError('crash')
    assert (out / 'result.txt').read_text() == 'first'
    with output_folder(str(out), overwrite=True) as staging:
        with open(osp.join(staging, 'result.txt'), 'w') as f:
            f.write('second')
    assert (out / 'result.txt').read_text() == 'second'
    (out / 'thesis.tex').write_text('mine')
    with pytest.raises(ToolError) as error:
        check_output_folder(str(out), overwrite=True)
    _one_line(str(error.value), f'output folder {out} holds files mmmobile did not write '
              '(thesis.tex)')
    assert sorted(os.listdir(tmp_path)) == ['out']  # no staging folders left


def test_tools_never_remove_a_users_file(files, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'results'
    out.mkdir()
    (out / 'thesis.tex').write_text('years of work')
    cases = [
        ('deploy', [CLS, '--out', out, '--overwrite']),
        ('fuse_ckpt', [CLS, files['good'], out, '--overwrite']),
        ('benchmark', [CLS, '--out', out, '--overwrite', '--no-progress']),
        ('make_demo_data', ['--out', tmp_path, '--tasks', 'cls', '--overwrite']),
        ('convert_ckpt', ['repvit', files['good'], out / 'thesis.tex', '--overwrite']),
    ]
    (tmp_path / 'imagenet').mkdir()  # a demo task folder the user put a file into
    (tmp_path / 'imagenet' / 'notes.txt').write_text('mine')
    before = _tree(tmp_path)
    for tool, argv in cases:
        status, err = _run_tool(tool, argv, monkeypatch, capsys)
        assert status in (1, 2), (tool, status, err)
        assert 'error:' in err and '\n' not in err, (tool, err)
        assert 'thesis.tex' in err or 'notes.txt' in err or 'not made by' in err, (tool, err)
    assert _tree(tmp_path) == before

    # convert_ckpt never writes onto its own source, not even with --overwrite.
    status, err = _run_tool('convert_ckpt', ['repvit', files['good'], files['good'],
                                             '--overwrite'], monkeypatch, capsys)
    assert status == 2 and 'is the source checkpoint' in err


def test_demo_data_keeps_files_added_to_a_task_folder(tmp_path):
    from mmmobile.demo import make_demo_data
    sizes = dict(num_train=2, num_val=1, img_size=32)
    make_demo_data(str(tmp_path), tasks=['cls'], progress=False, **sizes)
    (tmp_path / 'imagenet' / 'mine.txt').write_text('mine')
    before = _tree(tmp_path)
    with pytest.raises(ToolError) as error:
        make_demo_data(str(tmp_path), tasks=['cls'], seed=1, overwrite=True, progress=False,
                       **sizes)
    _one_line(str(error.value), f'{tmp_path}/imagenet holds files make_demo_data did not write '
              '(mine.txt)')
    assert _tree(tmp_path) == before


_SAVE_LOOP = '''
import sys
import torch
from mmmobile.utils.io import atomic_torch_save
weights = torch.empty(4_000_000)
step = 0
while True:
    weights.fill_(step)
    atomic_torch_save({'step': step, 'weights': weights}, sys.argv[1])
    print(step, flush=True)
    step += 1
'''


def test_sigkill_while_saving_leaves_a_complete_checkpoint(tmp_path):
    path = tmp_path / 'latest.pth'
    rng = np.random.default_rng(0)
    for _ in range(2):
        process = subprocess.Popen([sys.executable, '-c', _SAVE_LOOP, str(path)], env=_env(),
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline().strip() == '0'  # one complete save
            time.sleep(rng.uniform(0.05, 0.4))  # then die somewhere inside a later save
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        checkpoint = read_checkpoint(str(path))
        assert torch.equal(checkpoint['weights'], torch.full((4_000_000, ), checkpoint['step'],
                                                             dtype=torch.float32))


# ----------------------------------------------------------------------- training faults ---


@MMENGINE_HOOKS.register_module(force=True)
class FaultsNaNInjectionHook(Hook):
    """Makes the first conv weight NaN before the iteration ``at`` (counted from 1)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.at:
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
            with torch.no_grad():
                conv.weight.fill_(float('nan'))


def _tiny_cls_options(root: str, **extra) -> dict:
    options = {f'{split}_dataloader.dataset.data_root': root for split in ('train', 'val', 'test')}
    options.update(extra)
    return options


def test_nonfinite_loss_stops_at_its_iteration(cls_images, tmp_path):
    work = tmp_path / 'work'
    options = _tiny_cls_options(cls_images, **{'train_cfg.max_iters': 5,
                                               'custom_hooks': [dict(type='FaultsNaNInjectionHook',
                                                                     at=3)]})
    with pytest.raises(NonFiniteLossError) as error:
        run_train(TINY_CLS, work_dir=str(work), cfg_options=options)
    _one_line(str(error.value), 'loss became infinite or NaN at iteration 3 (epoch 1): loss=nan; '
              f'training stopped, the last complete checkpoint is {work}/iter_2.pth')
    assert error.value.exit_code == 1
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == ['iter_1.pth',
                                                                        'iter_2.pth']
    # Switched off in the config, training runs on through the NaN.
    options['stop_on_nonfinite_loss'] = False
    runner = run_train(TINY_CLS, work_dir=str(tmp_path / 'off'), cfg_options=options)
    assert runner.iter == 5


def test_resume_finds_the_newest_complete_checkpoint(files, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    assert find_resume_checkpoint(str(work)) is None  # nothing yet: training from scratch
    for step in (1, 2):
        (work / f'iter_{step}.pth').write_bytes(open(files['good'], 'rb').read())
    (work / 'iter_3.pth').write_bytes(open(files['truncated'], 'rb').read())
    (work / 'last_checkpoint').write_text('')  # killed while mmengine rewrote it
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_2.pth')
    for step in (1, 2):
        os.remove(work / f'iter_{step}.pth')
    with pytest.raises(ToolError) as error:
        find_resume_checkpoint(str(work))
    _one_line(str(error.value), f'no complete checkpoint to resume from in {work}: '
              f'{work}/iter_3.pth is truncated')


def test_resume_and_pretrained_files_are_checked(files, seg_images, tmp_path):
    options = {'train_dataloader.dataset.data_root': seg_images}
    with pytest.raises(ToolError) as error:  # weights, but no training state
        run_train(SEG, work_dir=str(tmp_path / 'a'), resume=files['good'], cfg_options=options)
    _one_line(str(error.value), f"checkpoint {files['good']} does not fit the model of {SEG}")
    cfg = read_config(SEG)
    model = build_model(cfg)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'seg.pth')
    with pytest.raises(ToolError) as error:
        run_train(SEG, work_dir=str(tmp_path / 'b'), resume=str(tmp_path / 'seg.pth'),
                  cfg_options=options)
    _one_line(str(error.value), 'holds weights only, no training state', 'load_from=')
    init = {'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=files['truncated'],
                                            prefix='backbone.')}
    with pytest.raises(ToolError) as error:
        run_train(SEG, work_dir=str(tmp_path / 'c'), cfg_options=dict(options, **init))
    _one_line(str(error.value), 'pretrained checkpoint (model.backbone.init_cfg) '
              f"{files['truncated']} is truncated")
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=files['mobilevit'],
                                       prefix='backbone.')
    with pytest.raises(ToolError) as error:
        check_pretrained(model, cfg.model)
    _one_line(str(error.value), "holds a MobileViTv3 arch 'xxs' backbone; model.backbone builds "
              "RepViT arch 'm0_6'")


_KILLED_RUN = '''
import os, runpy, signal, sys
from mmengine.fileio.backends.local_backend import LocalBackend
put = LocalBackend.put

def dying_put(self, obj, filepath):
    if 'iter_3' in str(filepath):  # half of the third checkpoint, then SIGKILL
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    put(self, obj, filepath)

LocalBackend.put = dying_put
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def test_sigkill_while_saving_then_resume_continues_the_same_run(seg_images, tmp_path):
    """A segmentor killed in the middle of writing its third checkpoint (max_keep_ckpts=1):
    ``--resume`` continues from iteration 2 and ends with the weights, optimizer and scheduler
    state of an uninterrupted run (same data order)."""
    options = {'train_dataloader.dataset.data_root': seg_images}
    work = tmp_path / 'killed'
    result = subprocess.run(
        [sys.executable, '-c', _KILLED_RUN, osp.join(REPO_ROOT, 'tools', 'train.py'), SEG, '--work-dir', str(work), '--cfg-options',
         f'train_dataloader.dataset.data_root={seg_images}'],
        capture_output=True, text=True, env=_env(), timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert [n for n in os.listdir(work) if n.endswith('.pth')] == ['iter_2.pth']
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')

    threads = torch.get_num_threads()  # the killed run used one thread: the same arithmetic
    torch.set_num_threads(1)
    try:
        resumed = run_train(SEG, work_dir=str(work), resume='auto', cfg_options=options)
        reference = run_train(SEG, work_dir=str(tmp_path / 'straight'), cfg_options=options)
    finally:
        torch.set_num_threads(threads)
    assert resumed.iter == reference.iter == 4
    final = read_checkpoint(str(work / 'iter_4.pth'))
    expected = read_checkpoint(str(tmp_path / 'straight' / 'iter_4.pth'))
    for key, value in expected['state_dict'].items():
        torch.testing.assert_close(final['state_dict'][key], value, rtol=0, atol=0)
    for key, value in expected['optimizer']['state'].items():
        torch.testing.assert_close(final['optimizer']['state'][key]['momentum_buffer'],
                                   value['momentum_buffer'], rtol=0, atol=0)
    assert final['param_schedulers'] == expected['param_schedulers']
