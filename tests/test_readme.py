"""Every shell command of the README runs as written on a fresh clone after ``make demo``.

Without running them (training alone takes minutes), each command of the README's ``bash`` blocks
is checked in order, as a reader would run them:

- ``make TARGET``: the Makefile has the target;
- ``python tools/X.py ...``: the tool exists and its own argument parser accepts the command line
  (placeholders such as ``CONFIG`` or ``[--work-dir DIR]`` of synopsis lines are kept as values);
- every file the command reads (configs, checkpoints, images, data roots in ``--cfg-options``)
  exists in the checkout, is written by ``make demo`` (its recipe is read from the Makefile and
  checked the same way), is demo data (a small demo set is generated to compare the layout) or is
  written by an earlier README command. The sources of ``tools/convert_ckpt.py`` are release
  files the reader downloads, named beside the commands.
"""
import copy
import os
import os.path as osp
import re
import shlex
from typing import Dict, List, Set

import pytest
from mmengine.config import Config

from .conftest import REPO_ROOT
from .tool_loader import command_line, load_tool

#: Argument destinations that name what a command writes.
OUTPUT_DESTS = {'work_dir', 'out', 'out_dir', 'dst', 'show_dir'}
#: Inputs the reader brings (downloads): ``(tool, dest)``.
DOWNLOADS = {('convert_ckpt.py', 'src')}
PATH_SUFFIXES = ('.py', '.pth', '.pt', '.pkl', '.json', '.jpg', '.jpeg', '.png', '.onnx', '.yml')
PLACEHOLDER = re.compile(r'^[A-Z][A-Z0-9_]*$')


def bash_commands(text: str) -> List[List[str]]:
    """The commands of the ``bash`` blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            tokens = shlex.split(line, comments=True)
            if tokens:
                commands.append(tokens)
    return commands


def synopsis_tokens(tokens: List[str]) -> List[str]:
    """``[--work-dir DIR]`` -> ``--work-dir DIR``; ``...`` and ``[args]`` dropped."""
    out = []
    for token in tokens:
        if token in ('[args]', '...', '...]'):
            continue
        stripped = token if '=' in token else token.strip('[]')  # key=[a,b] is a value
        if stripped and stripped != '...':
            out.append(stripped)
    return out


def is_path(value) -> bool:
    return (isinstance(value, str) and not PLACEHOLDER.match(value) and '://' not in value
            and ('/' in value or value.endswith(PATH_SUFFIXES)))


class Checker:
    """Follows the commands in order: what exists, what earlier commands wrote."""

    def __init__(self, demo_data: str) -> None:
        self.demo_data = demo_data  # a small demo set standing in for data/demo
        self.files: Set[str] = set()  # written files (normalized relative paths)
        self.folders: Set[str] = set()  # folders whose whole content counts as written
        self.demo_roots: Set[str] = set()  # where make_demo_data.py wrote

    def exists(self, path: str) -> bool:
        path = osp.normpath(path)
        if osp.exists(osp.join(REPO_ROOT, path)) or path in self.files:
            return True
        if any(path == f or path.startswith(f + os.sep) for f in self.folders):
            return True
        if any(osp.dirname(f) == path or f.startswith(path + os.sep) for f in self.files):
            return True  # a folder holding written files
        for root in self.demo_roots:
            if path == root or path.startswith(root + os.sep):
                return osp.exists(osp.join(self.demo_data, osp.relpath(path, root)))
        return False

    def written_by(self, tool: str, args) -> None:
        """Record the outputs of one command (what the tool documents it writes)."""
        def add(folder, names):
            self.files.update(osp.normpath(osp.join(folder, n)) for n in names)

        if tool == 'train.py' and is_path(args.work_dir) and is_path(args.config):
            cfg = Config.fromfile(osp.join(REPO_ROOT, args.config))
            loop = cfg.train_cfg
            last = (f"iter_{loop.max_iters}.pth" if 'max_iters' in loop
                    else f"epoch_{loop.max_epochs}.pth")
            add(args.work_dir, ['last_checkpoint', last])
        elif tool in ('fuse_ckpt.py', 'deploy.py'):
            from mmmobile.deploy import FORMATS
            folder = args.out_dir if tool == 'fuse_ckpt.py' else args.out
            if not is_path(folder):
                return
            formats = getattr(args, 'format', None) or []
            add(folder, ['fused.pth', 'deploy_config.py', 'report.json'] +
                [FORMATS[f] for f in formats])
        elif tool == 'make_demo_data.py':
            self.demo_roots.add(osp.normpath(args.out))
        else:
            for dest in OUTPUT_DESTS:
                value = getattr(args, dest, None)
                if is_path(value):
                    self.folders.add(osp.normpath(value))

    def check(self, tokens: List[str], where: str) -> List[str]:
        """Problems of one command (empty when it would run)."""
        if tokens[0] == 'make':
            with open(osp.join(REPO_ROOT, 'Makefile')) as f:
                targets = set(re.findall(r'^([\w-]+):', f.read(), re.M))
            return [f'{where}: no make target {t}' for t in tokens[1:] if t not in targets]
        if tokens[0] in ('pip', 'cd', 'source'):
            return []
        if tokens[0] == 'wget':  # a user download: `wget -P DIR URL` writes DIR/<file name>
            folder = tokens[tokens.index('-P') + 1] if '-P' in tokens else '.'
            self.files.add(osp.normpath(osp.join(folder, tokens[-1].rsplit('/', 1)[-1])))
            return []
        if tokens[0] in ('python', '.venv/bin/python'):
            tokens = tokens[1:]
        script = tokens[0]
        if not osp.isfile(osp.join(REPO_ROOT, script)):
            return [f'{where}: {script} does not exist']
        if script.endswith('.sh'):
            executable = os.access(osp.join(REPO_ROOT, script), os.X_OK)
            return [] if executable else [f'{where}: {script} is not executable']
        tool = osp.relpath(script, 'tools')
        args_list = synopsis_tokens(tokens[1:])
        try:
            with command_line(script, args_list):
                args = load_tool(tool).parse_args()
        except SystemExit as error:
            return [f'{where}: {script} refuses {" ".join(args_list)} (exit {error.code})']
        problems = []
        for dest, value in vars(args).items():
            if dest in OUTPUT_DESTS or (tool, dest) in DOWNLOADS:
                continue
            values = value if isinstance(value, list) else [value]
            if isinstance(value, dict):  # --cfg-options
                values = [v for v in value.values() if isinstance(v, str)]
            for item in values:
                item = item.split('=', 1)[-1] if isinstance(item, str) else item  # NAME=PATH
                if is_path(item) and not self.exists(item):
                    problems.append(f'{where}: {script} reads {item}, which nothing writes')
        if not problems:
            self.written_by(tool, args)
        return problems


def makefile_commands(target: str, seen=None) -> List[List[str]]:
    """The recipe of ``target`` and of the targets it depends on, variables substituted."""
    with open(osp.join(REPO_ROOT, 'Makefile')) as f:
        text = f.read()
    variables = dict(re.findall(r'^(\w+)\s*\?=\s*(\S+)', text, re.M))
    variables['PY'] = 'python'
    seen = set() if seen is None else seen
    match = re.search(rf'^{re.escape(target)}:(.*)\n((?:\t.*\n)*)', text, re.M)
    commands = []
    for dependency in match.group(1).split():
        if dependency not in seen and dependency != 'setup':
            seen.add(dependency)
            commands += makefile_commands(dependency, seen)
    for line in match.group(2).splitlines():
        line = re.sub(r'\$\((\w+)\)', lambda m: variables.get(m.group(1), m.group(0)), line)
        commands.append(line.strip().lstrip('@'))
    return commands


@pytest.fixture(scope='module')
def after_make_demo(tmp_path_factory):
    """A checker that has followed ``make demo`` (its recipe checked like the README)."""
    from mmmobile.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('readme_demo'))
    make_demo_data(root, progress=False, num_train=1, num_val=1, img_size=32)
    checker = Checker(root)
    for line in makefile_commands('demo'):
        # `$$(cat DIR/last_checkpoint)`: the checkpoint that the training wrote
        line = re.sub(r'\$\$\(cat (\S+)/last_checkpoint\)', lambda m: next(
            f for f in sorted(checker.files) if osp.dirname(f) == osp.normpath(m.group(1))
            and f.endswith('.pth')), line)
        problems = checker.check(shlex.split(line), f'Makefile: {line}')
        assert not problems, problems
    return checker


@pytest.fixture(scope='module')
def readme_run(after_make_demo):
    """The README's commands followed after ``make demo``: (checker afterwards, problems)."""
    checker = copy.deepcopy(after_make_demo)
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        commands = bash_commands(f.read())
    assert len(commands) > 20
    problems = []
    for tokens in commands:
        problems += checker.check(tokens, 'README: ' + ' '.join(tokens)[:100])
    return checker, problems


def test_make_demo_writes_the_demo_detector(after_make_demo):
    assert after_make_demo.exists('work_dirs/demo/iter_600.pth')
    assert after_make_demo.exists('work_dirs/demo/fused/deploy_config.py')
    assert after_make_demo.exists('data/demo/coco/annotations/instances_val2017.json')
    assert not after_make_demo.exists('work_dirs/repvit_demo/iter_600.pth')


def test_every_readme_command_runs_as_written(readme_run):
    _, problems = readme_run
    assert not problems, '\n'.join(problems)


def test_checker_catches_what_does_not_run(readme_run):
    checker, _ = readme_run
    assert checker.exists('work_dirs/repvit_demo/epoch_12.pth')  # the README's card training
    bad = [
        ['python', 'tools/deploy.py', 'configs/det/repvit_maskrcnn.py',
         'work_dirs/repvit_demo/iter_600.pth', '--out', 'DIR'],  # the old README line
        ['python', 'tools/infer.py', 'CONFIG', 'CHECKPOINT', 'IMAGE', '--no-such-flag'],
        ['python', 'tools/train.py', 'configs/cls/repvit/repvit-m9.9_8xb256-300e_in1k.py'],
        ['python', 'tools/infer.py', 'CONFIG', 'CHECKPOINT', 'data/demo/coco/val2017/x.jpg'],
        ['python', 'tools/no_such_tool.py'],
        ['make', 'no-such-target'],
    ]
    for tokens in bad:
        assert checker.check(tokens, 'bad'), tokens


def test_launchers_find_the_project_venv(tmp_path):
    """``tools/dist_*.sh`` without PYTHON: the active venv, else ``ROOT/.venv``, else python."""
    import subprocess
    fake = tmp_path / '.venv' / 'bin'
    fake.mkdir(parents=True)
    (fake / 'python').write_text('#!/bin/sh\n')
    (fake / 'python').chmod(0o755)
    script = f'source {osp.join(REPO_ROOT, "tools", "python_env.sh")}; echo "$PYTHON"'
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'VIRTUAL_ENV')}

    def found(root, **extra):
        return subprocess.run(['bash', '-c', f'ROOT={root}; {script}'], env=dict(env, **extra),
                              capture_output=True, text=True, check=True).stdout.strip()

    assert found(tmp_path) == str(fake / 'python')
    assert found(tmp_path / 'elsewhere') == 'python'
    assert found(tmp_path, PYTHON='/opt/py') == '/opt/py'
    assert found(tmp_path / 'elsewhere', VIRTUAL_ENV=str(tmp_path / '.venv')) == \
        str(fake / 'python')
    for launcher in ('dist_train.sh', 'dist_test.sh'):
        with open(osp.join(REPO_ROOT, 'tools', launcher)) as f:
            assert 'source "$ROOT/tools/python_env.sh"' in f.read()
