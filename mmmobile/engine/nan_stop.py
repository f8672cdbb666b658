"""Stop training at the first non-finite loss, with one line that says where and what.

A NaN or Inf loss poisons the weights at the next optimizer step and every later checkpoint; the
official RepViT and CMT trainers stop with "Loss is nan, stopping training", detectron2 with
``FloatingPointError: Loss became infinite or NaN at iteration=N``. :class:`NonFiniteLossHook`
does the same for any mmengine training: after each iteration it checks the loss terms the model
returned and raises :class:`NonFiniteLossError` naming the iteration, the non-finite terms and the
last complete checkpoint. It runs before the checkpoint hook, so the poisoned state of that
iteration is never saved.

mmmobile's ``tools/train.py`` adds it to every run (:func:`add_nonfinite_loss_hook`); a config
switches it off with ``stop_on_nonfinite_loss = False``.
"""
import math
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from ..registry import HOOKS
from ..utils.errors import ToolError

#: Config key that switches the hook off in mmmobile's tools (``stop_on_nonfinite_loss = False``).
SWITCH_KEY = 'stop_on_nonfinite_loss'


class NonFiniteLossError(ToolError, FloatingPointError):
    """Training stopped because a loss term became NaN or infinite."""


def nonfinite_terms(outputs: Any) -> List[str]:
    """``name=value`` of every loss term in ``outputs`` that is NaN or infinite.

    Args:
        outputs (dict): What ``train_step`` returned (mmengine's parsed ``log_vars``).

    Returns:
        list[str]: For example ``['loss_cls=nan', 'loss=nan']``; empty when all are finite.
    """
    if not isinstance(outputs, dict):
        return []
    bad = []
    for name, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            if not bool(torch.isfinite(value.detach()).all()):
                number = value.detach().float()
                bad.append(f'{name}={number.item() if number.numel() == 1 else "non-finite"}')
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append(f'{name}={value}')
    return bad


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss term is NaN or infinite.

    Runs after each training iteration, before the checkpoint and logger hooks (priority
    ``ABOVE_NORMAL``), so the iteration that went wrong is not saved. The message names the
    iteration (counted from 1, as the checkpoints are), the non-finite terms and the last complete
    checkpoint to resume from.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict] = None) -> None:
        """Check the loss terms of the iteration that just ran.

        Args:
            runner: The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch: The batch.
            outputs (dict, optional): The loss terms ``train_step`` returned.
        """
        bad = nonfinite_terms(outputs)
        if not bad:
            return
        last = runner.message_hub.get_info('last_ckpt')
        resume = (f'the last complete checkpoint is {last} (resume with --resume)'
                  if last else 'no checkpoint was saved before it')
        raise NonFiniteLossError(
            f'loss became infinite or NaN at iteration {runner.iter + 1} '
            f'(epoch {runner.epoch + 1}): {", ".join(bad)}; training stopped, {resume}. Lower '
            'the learning rate, add gradient clipping or check the data')


def add_nonfinite_loss_hook(cfg: Config) -> bool:
    """Append ``mmmobile.NonFiniteLossHook`` to ``cfg.custom_hooks`` (in place).

    Not added when the config sets ``stop_on_nonfinite_loss = False`` or already lists the hook.

    Args:
        cfg (Config): The training config.

    Returns:
        bool: True when the hook was added.
    """
    if cfg.get(SWITCH_KEY, True) is False:
        return False
    hooks = list(cfg.get('custom_hooks') or [])
    for hook in hooks:
        hook_type = hook.get('type') if isinstance(hook, dict) else type(hook)
        name = hook_type if isinstance(hook_type, str) else getattr(hook_type, '__name__', '')
        if name.split('.')[-1] == NonFiniteLossHook.__name__:
            return False
    hooks.append(dict(type='mmmobile.NonFiniteLossHook'))
    cfg.custom_hooks = hooks
    return True


__all__ = ['NonFiniteLossError', 'NonFiniteLossHook', 'SWITCH_KEY', 'add_nonfinite_loss_hook',
           'nonfinite_terms']
