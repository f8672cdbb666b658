"""The package as users get it: a light ``import mmmobile``, configs and tools in the wheel."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

from mmmobile.engine import load_config
from mmmobile.utils.paths import config_root, find_config, tool_root
from . import conftest
from .conftest import REPO_ROOT

DEMO_CONFIG = 'repvit-m0.6_demo-in1k.py'


def test_import_mmmobile_loads_models_only():
    code = '\n'.join([
        'import sys, torch',
        'before = list(torch.serialization.get_safe_globals())',
        'import mmmobile',
        # torch registers its own classes when torch.distributed.tensor is first imported
        'added = [g for g in torch.serialization.get_safe_globals() if g not in before]',
        'assert all(g.__module__.startswith("torch.") for g in added), added',
        'lazy = ("apis", "benchmark", "demo", "deploy", "engine")',
        'heavy = sorted(m for m in sys.modules if m.split(".")[:2] in [["mmmobile", name]',
        '                                                             for name in lazy])',
        'assert not heavy, heavy',
        'from mmmobile.registry import MODELS',
        'assert MODELS.get("RepViT") is not None and callable(mmmobile.convert_checkpoint)',
        'assert mmmobile.demo.make_demo_data and "mmmobile.demo" in sys.modules  # first use',
    ])
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_wheel_ships_configs_and_tools(tmp_path):
    source = tmp_path / 'src'  # a copy, so that the build leaves the checkout as it is
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for item in ('mmmobile', 'configs', 'tools', 'requirements'):
        shutil.copytree(osp.join(REPO_ROOT, item), source / item, ignore=ignore)
    for item in ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        if osp.exists(osp.join(REPO_ROOT, item)):
            shutil.copy2(osp.join(REPO_ROOT, item), source / item)
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
         str(source), '-w', str(tmp_path / 'dist')], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel, ) = (tmp_path / 'dist').iterdir()
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (f'mmmobile/.mim/configs/demo/{DEMO_CONFIG}', 'mmmobile/.mim/tools/train.py',
                 'mmmobile/.mim/tools/dist_train.sh', 'mmmobile/registry.py',
                 'mmmobile/demo/data.py'):
        assert name in names, name
    assert not [name for name in names if name.startswith(('tests/', 'configs/', 'tools/'))]
    if osp.exists(osp.join(REPO_ROOT, 'model-index.yml')):
        assert 'mmmobile/.mim/model-index.yml' in names
    requires = next(zipfile.ZipFile(wheel).read(name).decode() for name in names
                    if name.endswith('.dist-info/METADATA'))
    assert 'Requires-Dist: torch>=2.6' in requires


def test_shipped_configs_are_found_by_name(tmp_path, monkeypatch):
    assert osp.isfile(osp.join(config_root(), 'demo', DEMO_CONFIG))
    assert osp.isfile(osp.join(tool_root(), 'train.py'))
    path = find_config(DEMO_CONFIG)
    assert path == osp.join(config_root(), 'demo', DEMO_CONFIG)
    assert find_config(f'configs/demo/{DEMO_CONFIG}') == find_config(f'demo/{DEMO_CONFIG}') == path
    assert find_config('no-such-config.py') is None and find_config('demo') is None
    monkeypatch.chdir(tmp_path)  # a name works from any folder, as with `mim train mmmobile NAME`
    assert load_config(DEMO_CONFIG).model.head.num_classes == 3


def test_missing_inputs_fail_under_ci(monkeypatch):
    monkeypatch.setattr(conftest, 'IN_CI', True)
    with pytest.raises(pytest.fail.Exception, match='CI=true'):
        conftest.skip_or_fail('fixtures not found')
    monkeypatch.setattr(conftest, 'IN_CI', False)
    with pytest.raises(pytest.skip.Exception, match='fixtures not found'):
        conftest.skip_or_fail('fixtures not found')
