"""Training checkpoints that survive a crash: ``--resume`` always finds a complete one.

mmengine writes checkpoints in place, and its ``CheckpointHook`` removes the oldest kept
checkpoint (``max_keep_ckpts``) *before* it writes the new one, then writes ``last_checkpoint``
in place too. A process killed while saving could leave a truncated newest checkpoint, an empty
``last_checkpoint`` (auto-resume then starts from scratch) or, with ``max_keep_ckpts=1``, no
complete checkpoint at all. Three pieces close those gaps:

* :func:`save_checkpoint_atomically` (used by :class:`~mmmobile.engine.runner.MobileRunner`):
  every checkpoint is written under a temporary name beside its final one and renamed when
  complete;
* :class:`KeepUntilSavedCheckpointHook`: ``CheckpointHook`` whose removal of old checkpoints
  waits until the new one is saved (the tools put it in place of ``CheckpointHook``, same
  arguments);
* :func:`find_resume_checkpoint`: ``--resume`` without a path takes the newest *complete*
  checkpoint of the work dir, whatever ``last_checkpoint`` says.
"""
import logging
import os
import os.path as osp
import re
from typing import Any, Callable, List, Optional, Tuple

from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ..registry import HOOKS
from ..utils.checkpoints import (checkpoint_file_problem, is_local_path, state_dict_of,
                                 weights_mismatch)
from ..utils.errors import ToolError
from ..utils.io import atomic_file


def save_checkpoint_atomically(save: Callable[..., Any], out_dir: str, filename: str,
                               *args: Any, **kwargs: Any) -> None:
    """Call ``Runner.save_checkpoint``-like ``save(out_dir, filename, ...)`` onto a temporary
    name in ``out_dir`` and rename the file to ``filename`` when it is complete.

    Remote ``out_dir`` (``s3://`` ...) and ``backend_args`` are passed through unchanged.

    Args:
        save (Callable): The saving method, e.g. ``super().save_checkpoint``.
        out_dir (str): The folder of the checkpoint.
        filename (str): Its file name.
        *args: Passed to ``save``.
        **kwargs: Passed to ``save``.
    """
    if not is_local_path(out_dir) or kwargs.get('backend_args') or kwargs.get(
            'file_client_args'):
        save(out_dir, filename, *args, **kwargs)
        return
    with atomic_file(osp.join(out_dir, filename)) as tmp:
        save(osp.dirname(tmp), osp.basename(tmp), *args, **kwargs)


class _DeferredRemoval:
    """A file backend that records ``remove``/``rmtree`` instead of doing them."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[Tuple[str, str]] = []

    def remove(self, path: str) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path: str) -> None:
        self.pending.append(('rmtree', path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class KeepUntilSavedCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that removes outdated checkpoints only after saving.

    ``CheckpointHook`` deletes the oldest of ``max_keep_ckpts`` checkpoints before it writes the
    new one; a crash while saving then leaves one complete checkpoint fewer (none with
    ``max_keep_ckpts=1``). Here the deletion waits until the new checkpoint and
    ``last_checkpoint`` are written. Same arguments as ``CheckpointHook``.
    """

    def _save_checkpoint_with_step(self, runner: Any, step: int, meta: dict) -> None:
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            self.file_backend = backend
        for action, path in deferred.pending:
            getattr(backend, action)(path)


def use_keep_until_saved_hook(cfg: Config) -> bool:
    """Let ``default_hooks.checkpoint`` be :class:`KeepUntilSavedCheckpointHook` (in place).

    Only a plain ``CheckpointHook`` is replaced; its arguments are kept.

    Args:
        cfg (Config): The training config.

    Returns:
        bool: True when the hook type was changed.
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not isinstance(hook, dict):
        return False
    hook_type = hook.get('type')
    name = hook_type if isinstance(hook_type, str) else getattr(hook_type, '__name__', '')
    if hook_type is not CheckpointHook and name.split('.')[-1] != 'CheckpointHook':
        return False
    hook['type'] = 'mmmobile.KeepUntilSavedCheckpointHook'
    return True


def check_run_checkpoint(runner: Any, checkpoint: dict, filename: str, resuming: bool) -> None:
    """Check a checkpoint a runner resumes from or tests: its weights must fit the model
    exactly (:func:`~mmmobile.utils.checkpoints.weights_mismatch` names the mismatch), and a
    resumed one must hold the training state.

    Args:
        runner: The runner (its ``model`` and ``cfg``).
        checkpoint (dict): The loaded checkpoint.
        filename (str): Its name, for the messages.
        resuming (bool): Whether the runner resumes from it.

    Raises:
        ToolError: One line naming the file and the problem.
    """
    from mmengine.model import is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    state = state_dict_of(checkpoint, filename)
    problem = weights_mismatch(model, state, filename, runner.cfg.get('model'),
                               runner.cfg.get('default_scope'), runner.cfg.filename)
    if problem:
        raise ToolError(problem)
    meta = checkpoint.get('meta')
    if resuming and not (isinstance(meta, dict) and 'iter' in meta and 'epoch' in meta
                         and 'optimizer' in checkpoint):
        raise ToolError(f'resume checkpoint {filename} holds weights only, no training state '
                        '(iteration, optimizer): it cannot be resumed; start from its weights '
                        f'with --cfg-options load_from={filename} instead')


def _step_pattern(name: str) -> Optional[re.Pattern]:
    """A pattern matching checkpoint file names like ``name`` with another number."""
    match = re.search(r'\d+', name[::-1])
    if not match:
        return None
    start, end = len(name) - match.end(), len(name) - match.start()
    return re.compile(re.escape(name[:start]) + r'(\d+)' + re.escape(name[end:]) + '$')


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint of a work dir, for ``--resume`` without a path.

    Candidates: the file ``work_dir/last_checkpoint`` names, and every file beside it (and in
    ``work_dir``) named like it with another step number (``iter_N.pth``, ``epoch_N.pth`` when
    ``last_checkpoint`` is missing or empty). The highest step whose file is complete
    (:func:`~mmmobile.utils.checkpoints.checkpoint_file_problem`) wins.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: The checkpoint, or None when the work dir holds no checkpoint at all.

    Raises:
        ToolError: Checkpoints are there but none is complete.
    """
    recorded = None
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record, encoding='utf-8') as f:
            recorded = f.read().strip() or None
    if recorded and not is_local_path(recorded):
        return recorded
    patterns = [_step_pattern(osp.basename(recorded))] if recorded else []
    patterns = [p for p in patterns if p] or [re.compile(r'(?:iter|epoch)_(\d+)\.pth$')]
    folders = list(dict.fromkeys(([osp.dirname(recorded)] if recorded else []) + [work_dir]))
    candidates = {}
    for folder in folders:
        if osp.isdir(folder):
            for name in os.listdir(folder):
                match = next((m for p in patterns if (m := p.match(name))), None)
                if match:
                    candidates[osp.join(folder, name)] = int(match.group(1))
    if recorded and osp.lexists(recorded):
        candidates.setdefault(recorded, -1)
    if not candidates:
        if recorded:
            raise ToolError(f'{record} names {recorded}, which does not exist: no checkpoint to '
                            f'resume from in {work_dir}')
        print_log(f'--resume: no checkpoint in {work_dir} yet; training starts from scratch',
                  logger='current', level=logging.WARNING)
        return None
    problems = []
    for path in sorted(candidates, key=lambda p: (candidates[p], p == recorded), reverse=True):
        problem = checkpoint_file_problem(path)
        if problem is None:
            if recorded and osp.abspath(path) != osp.abspath(recorded):
                print_log(f'{record} names {recorded}, but the newest complete checkpoint is '
                          f'{path}: resuming from it', logger='current', level=logging.WARNING)
            return path
        problems.append(f'{path} {problem}')
    raise ToolError(f'no complete checkpoint to resume from in {work_dir}: '
                    + '; '.join(problems[:3]))


__all__ = ['KeepUntilSavedCheckpointHook', 'check_run_checkpoint', 'find_resume_checkpoint',
           'save_checkpoint_atomically', 'use_keep_until_saved_hook']
