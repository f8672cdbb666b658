"""Make GPU-minded OpenMMLab configs run on a machine without CUDA.

Every rewrite is applied to the loaded config before the Runner is built and announced with a
warning through mmengine's logger.
"""
import logging
import os
import subprocess
from typing import Any, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

#: Norm layer types that need CUDA (and a process group) and are replaced by ``BN`` on CPU.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'nn.SyncBatchNorm')
# Keys that only the synchronised layers accept.
_SYNC_ONLY_KEYS = ('process_group', 'group', 'stats_mode')
# Keys that only AmpOptimWrapper accepts.
_AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def _type_name(value: Any) -> str:
    """``'mmengine.AmpOptimWrapper'`` -> ``'AmpOptimWrapper'``; classes -> their name."""
    if isinstance(value, str):
        return value.rsplit('.', 1)[-1] if not value.startswith('nn.') else value
    return getattr(value, '__name__', str(value))


def _is_sync_bn(value: Any) -> bool:
    if isinstance(value, str):
        return value in SYNC_BN_TYPES or _type_name(value) in SYNC_BN_TYPES
    return isinstance(value, type) and issubclass(value, torch.nn.SyncBatchNorm)


def convert_amp_optim_wrapper(cfg: Config) -> List[str]:
    """Replace ``AmpOptimWrapper`` by ``OptimWrapper`` in ``cfg.optim_wrapper`` (in place).

    Also handles a dict of named optimizer wrappers (one level deep, as used by multi-optimizer
    models). AMP-only keys (``loss_scale``, ``dtype``, ``use_fsdp``) are dropped.

    Args:
        cfg: The config.

    Returns:
        list[str]: The config keys that were changed.
    """
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        return []
    candidates = [('optim_wrapper', wrapper)]
    if 'type' not in wrapper:
        candidates += [(f'optim_wrapper.{key}', value) for key, value in wrapper.items()
                       if isinstance(value, dict)]
    changed = []
    for name, item in candidates:
        if _type_name(item.get('type', '')) == 'AmpOptimWrapper':
            item['type'] = 'OptimWrapper'
            for key in _AMP_ONLY_KEYS:
                item.pop(key, None)
            changed.append(name)
    return changed


def convert_sync_bn(obj: Any) -> int:
    """Replace every SyncBN-like norm config inside ``obj`` by ``BN``, recursively and in place.

    Any dict whose ``type`` is one of :data:`SYNC_BN_TYPES` (or ``nn.SyncBatchNorm`` itself) is
    rewritten, wherever it sits (``norm_cfg`` of backbones, necks, heads, nested blocks, lists).

    Args:
        obj: ``cfg.model`` or any part of it.

    Returns:
        int: The number of norm configs rewritten.
    """
    count = 0
    if isinstance(obj, dict):
        if _is_sync_bn(obj.get('type')):
            obj['type'] = 'BN'
            for key in _SYNC_ONLY_KEYS:
                obj.pop(key, None)
            count += 1
        for value in obj.values():
            count += convert_sync_bn(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            count += convert_sync_bn(value)
    return count


def apply_cpu_fallbacks(cfg: Config,
                        launcher: str = 'none',
                        cuda_available: Optional[bool] = None) -> List[str]:
    """Rewrite a config so that it trains/tests on CPU; a no-op when CUDA is available.

    * ``AmpOptimWrapper`` (from the config or ``--amp``) -> ``OptimWrapper``: AMP is refused on CPU.
    * ``SyncBN``/``MMSyncBN`` norm configs anywhere in ``cfg.model`` -> ``BN``; a top-level
      ``sync_bn`` (mmengine converts BN to SyncBN with it) is removed.
    * ``env_cfg.dist_cfg.backend`` -> ``'gloo'`` (NCCL needs GPUs).
    * distributed runs (``launcher != 'none'``): ``model_wrapper_cfg`` defaults to
      ``MMDistributedDataParallel`` with ``device_ids=None`` (mmengine would pass the GPU id
      ``LOCAL_RANK``), unless the config sets one.

    Each change is announced with a warning.

    Args:
        cfg: The loaded config, modified in place.
        launcher: The job launcher (``none``, ``pytorch``, ``slurm``, ``mpi``).
        cuda_available: Override CUDA detection (tests); default ``torch.cuda.is_available()``.

    Returns:
        list[str]: One message per change (empty when nothing changed).
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return []
    messages = []
    for name in convert_amp_optim_wrapper(cfg):
        messages.append(f'CUDA is not available: AMP is refused on CPU; {name} switched from '
                        'AmpOptimWrapper to OptimWrapper (fp32 training).')
    if isinstance(cfg.get('model'), dict):
        count = convert_sync_bn(cfg.model)
        if count:
            messages.append(f'CUDA is not available: {count} SyncBN/MMSyncBN norm config(s) in '
                            'cfg.model replaced by BN.')
    if cfg.get('sync_bn'):
        messages.append(f'CUDA is not available: sync_bn={cfg.sync_bn!r} ignored (no SyncBN on '
                        'CPU).')
        cfg.sync_bn = None
    env_cfg = cfg.get('env_cfg')
    if isinstance(env_cfg, dict):
        dist_cfg = env_cfg.get('dist_cfg')
        if isinstance(dist_cfg, dict) and dist_cfg.get('backend', 'gloo') != 'gloo':
            messages.append(f'CUDA is not available: env_cfg.dist_cfg.backend '
                            f'{dist_cfg["backend"]!r} replaced by \'gloo\'.')
            dist_cfg['backend'] = 'gloo'
    if launcher != 'none' and cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=bool(cfg.get('find_unused_parameters', False)))
        messages.append('CUDA is not available: distributed CPU run, model_wrapper_cfg set to '
                        'MMDistributedDataParallel(device_ids=None, broadcast_buffers=False).')
    for message in messages:
        _warn(message)
    return messages


def _slurm_env() -> None:
    """Fill the torch.distributed ``env://`` variables from SLURM's (as mmengine does)."""
    env = os.environ
    env.setdefault('RANK', env['SLURM_PROCID'])
    env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
    env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in env:
        nodes = subprocess.run(['scontrol', 'show', 'hostname', env['SLURM_NODELIST']],
                               check=True, capture_output=True, text=True).stdout.split()
        env['MASTER_ADDR'] = nodes[0]
    env.setdefault('MASTER_PORT', '29500')


def _mpi_env() -> None:
    """Fill the torch.distributed ``env://`` variables from Open MPI's."""
    env = os.environ
    env.setdefault('RANK', env['OMPI_COMM_WORLD_RANK'])
    env.setdefault('WORLD_SIZE', env['OMPI_COMM_WORLD_SIZE'])
    env.setdefault('LOCAL_RANK', env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
    env.setdefault('MASTER_ADDR', '127.0.0.1')
    env.setdefault('MASTER_PORT', '29500')


def init_cpu_distributed(launcher: str, cuda_available: Optional[bool] = None) -> bool:
    """Initialise the default process group with gloo for a distributed run without CUDA.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails without a GPU. When the
    process group already exists, ``Runner.setup_env`` skips ``init_dist`` and uses it.

    Args:
        launcher: ``none`` (nothing to do), ``pytorch`` (torchrun's ``RANK``/``WORLD_SIZE``/
            ``MASTER_ADDR``/``MASTER_PORT``), ``slurm`` or ``mpi``.
        cuda_available: Override CUDA detection (tests); default ``torch.cuda.is_available()``.

    Returns:
        bool: True when this call created the process group (destroy it when done).

    Raises:
        RuntimeError: The launcher's environment variables are missing (for example
            ``--launcher pytorch`` without ``torchrun``).
    """
    import torch.distributed as dist

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if launcher == 'none' or cuda_available or not dist.is_available() or dist.is_initialized():
        return False
    try:
        if launcher == 'slurm':
            _slurm_env()
        elif launcher == 'mpi':
            _mpi_env()
        missing = [key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if key not in os.environ]
    except KeyError as error:
        missing = [str(error)]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} needs the environment variable(s) {", ".join(missing)}; start '
            'distributed runs with tools/dist_train.sh / tools/dist_test.sh (torchrun) or srun.')
    os.environ.setdefault('LOCAL_RANK', '0')
    rank, world_size = os.environ['RANK'], os.environ['WORLD_SIZE']
    _warn('CUDA is not available: initialising the distributed process group with the gloo '
          f'backend (launcher {launcher}, rank {rank} of {world_size}).')
    dist.init_process_group(backend='gloo', init_method='env://')
    return True
