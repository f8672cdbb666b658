"""Engine layer of mmmobile: what ``tools/train.py`` and ``tools/test.py`` run.

Importing it registers ``mmmobile.SafeCheckpointHook`` and changes nothing global: torch's
weights_only allow-list gets mmmobile's one entry
(:func:`~mmmobile.engine.checkpoint.register_safe_globals`) only where checkpoints are loaded
(:func:`~mmmobile.engine.checkpoint.load_checkpoint_file`, :class:`MobileRunner`) or written for
resuming (:class:`SafeCheckpointHook`).
"""
from .checkpoint import (SAFE_GLOBALS, TRUSTED_CHECKPOINT_ENV, UnsafeCheckpointError,
                         checkpoint_globals, env_trusts_checkpoint, find_unsafe_objects,
                         load_checkpoint_file, make_weights_only_safe, register_safe_globals)
from .cpu import (apply_cpu_fallbacks, convert_amp_optim_wrapper, convert_sync_bn,
                  init_cpu_distributed)
from .data_check import (MissingDataError, MissingPath, check_data_exists, demo_configs,
                         find_missing_data, find_missing_pretrained, missing_data_message,
                         missing_pretrained_message)
from .hooks import SafeCheckpointHook
from .nan_stop import NonFiniteLossError, NonFiniteLossHook
from .resume import KeepUntilSavedCheckpointHook
from .runner import (USER_ERRORS, MobileRunner, ToolError, add_safe_checkpoint_hook,
                     build_runner, load_config, prepare_test_config, prepare_train_config,
                     run_test, run_train, validation_loaders)

__all__ = [
    'KeepUntilSavedCheckpointHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'MissingDataError', 'MissingPath', 'MobileRunner', 'SAFE_GLOBALS', 'SafeCheckpointHook',
    'TRUSTED_CHECKPOINT_ENV', 'ToolError', 'USER_ERRORS', 'UnsafeCheckpointError',
    'add_safe_checkpoint_hook', 'apply_cpu_fallbacks', 'build_runner', 'check_data_exists',
    'checkpoint_globals', 'convert_amp_optim_wrapper', 'convert_sync_bn', 'demo_configs',
    'env_trusts_checkpoint', 'find_missing_data', 'find_missing_pretrained',
    'find_unsafe_objects', 'init_cpu_distributed', 'load_checkpoint_file', 'load_config',
    'make_weights_only_safe', 'missing_data_message', 'missing_pretrained_message',
    'prepare_test_config', 'prepare_train_config', 'register_safe_globals', 'run_test',
    'run_train', 'validation_loaders'
]
