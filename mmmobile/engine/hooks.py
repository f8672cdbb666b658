"""Runner hooks of mmmobile."""
import logging
from typing import Any, Dict

from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmmobile.registry import HOOKS
from .checkpoint import find_unsafe_objects, make_weights_only_safe, register_safe_globals


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write checkpoints that ``torch.load(weights_only=True)`` can read back, so resume works.

    ``before_save_checkpoint`` rewrites the checkpoint dict in place: numpy scalars/arrays become
    python numbers/lists and the message hub's ``HistoryBuffer`` objects pickle as
    ``HistoryBuffer(list, list, int)`` (see
    :func:`~mmmobile.engine.checkpoint.make_weights_only_safe`). mmengine's own ``Runner.resume``
    then loads the file with ``weights_only=True`` (given the ``HistoryBuffer`` allow-list that
    the hook registers when it is built, before the Runner resumes) and gets the same message hub
    back.

    mmmobile's tools add this hook automatically; with another toolbox's ``tools/train.py`` list it
    in the config: ``custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]``.

    It runs last among ``before_save_checkpoint`` hooks (priority ``LOWEST``), after hooks such as
    ``EMAHook`` have added their entries.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        register_safe_globals()
        self._warned: set = set()

    def before_save_checkpoint(self, runner: Any, checkpoint: Dict[str, Any]) -> None:
        """Convert the checkpoint dict to weights_only-safe types, in place.

        Args:
            runner: The runner saving the checkpoint.
            checkpoint: The dict about to be passed to ``torch.save``.
        """
        safe = make_weights_only_safe(checkpoint)
        if safe is not checkpoint:
            checkpoint.clear()
            checkpoint.update(safe)
        unsafe = find_unsafe_objects({k: v for k, v in checkpoint.items() if k != 'state_dict'})
        new = unsafe - self._warned
        if new:
            self._warned |= new
            print_log(
                'SafeCheckpointHook: the checkpoint still holds objects that '
                f'torch.load(weights_only=True) refuses: {", ".join(sorted(new))}. Resuming from '
                'it will need --trust-checkpoint (MMMOBILE_TRUSTED_CHECKPOINT=1).',
                logger='current',
                level=logging.WARNING)
