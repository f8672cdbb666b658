"""Train/test entry points behind ``tools/train.py`` and ``tools/test.py``.

They work for mmpretrain, mmdet and mmseg configs alike: the config's ``default_scope`` selects the
toolbox and mmengine's ``Runner`` (built with ``from_cfg``) does the rest. On top of the toolboxes'
own tools they add:

* CPU fallbacks (:func:`~mmmobile.engine.cpu.apply_cpu_fallbacks`), including distributed CPU runs
  with gloo (:func:`~mmmobile.engine.cpu.init_cpu_distributed`);
* a data check with one clear message (:func:`~mmmobile.engine.data_check.check_data_exists`);
* resumable checkpoints under torch's ``weights_only=True`` (``SafeCheckpointHook`` is added to
  ``custom_hooks``, :class:`MobileRunner` loads through
  :func:`~mmmobile.utils.checkpoints.read_checkpoint`), written atomically and kept until the
  next one is complete (:mod:`mmmobile.engine.resume`);
* a stop at the first NaN/Inf loss (:mod:`mmmobile.engine.nan_stop`);
* one line for config mistakes (:mod:`mmmobile.utils.configs`) and unusable checkpoints.
"""
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from mmmobile.utils.paths import find_config
from ..utils.checkpoints import check_pretrained, read_checkpoint
from ..utils.configs import config_errors, read_config
from ..utils.errors import ToolError
from .checkpoint import UnsafeCheckpointError
from .cpu import _type_name, apply_cpu_fallbacks, init_cpu_distributed
from .data_check import (MissingDataError, check_data_exists, find_missing_pretrained,
                         missing_pretrained_message)
from .hooks import SafeCheckpointHook
from .nan_stop import add_nonfinite_loss_hook
from .resume import (check_run_checkpoint, find_resume_checkpoint, save_checkpoint_atomically,
                     use_keep_until_saved_hook)


#: Exceptions the tools turn into one ``error:`` line and a non-zero exit (no traceback).
USER_ERRORS: Tuple[Type[BaseException], ...] = (ToolError, MissingDataError, UnsafeCheckpointError)

_REMOTE_PREFIXES = ('http://', 'https://', 's3://', 'open-mmlab://', 'openmmlab://', 'mmcls://',
                    'torchvision://', 'modelzoo://', 'pavi://')


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


class MobileRunner(Runner):
    """mmengine's ``Runner`` with CPU/torch-2.6+ adjustments and crash-safe checkpoints.

    * ``build_model`` reverts ``nn.SyncBatchNorm``/mmcv ``SyncBatchNorm`` modules to BatchNorm
      when CUDA is unavailable (mmengine only does so for non-distributed runs, and a distributed
      CPU run cannot use them either).
    * ``load_checkpoint`` (used by ``resume`` and ``load_from``) loads through
      :func:`~mmmobile.engine.checkpoint.load_checkpoint_file`: ``weights_only=True`` with
      mmmobile's allow-list, a clear :class:`UnsafeCheckpointError` otherwise, and
      ``weights_only=False`` for that one file only when :attr:`trust_checkpoint` is set (or
      ``MMMOBILE_TRUSTED_CHECKPOINT``).
    * ``save_checkpoint`` writes to a temporary name and renames, ``--resume`` without a path
      takes the newest complete checkpoint (see :mod:`mmmobile.engine.resume`).
    """

    #: Load the checkpoint of this run with ``weights_only=False`` (``--trust-checkpoint``).
    trust_checkpoint: bool = False
    #: Refuse a checkpoint whose weights do not fit the model exactly (``tools/test.py``).
    exact_weights: bool = False
    _resuming: bool = False

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        """``Runner.resume``; the checkpoint must fit the model and hold the training state."""
        self._resuming = True
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def load_or_resume(self) -> None:
        """``Runner.load_or_resume``; ``--resume`` without a path takes the newest complete
        checkpoint of the work dir (:func:`~mmmobile.engine.resume.find_resume_checkpoint`)."""
        if self._resume and self._load_from is None and not self._has_loaded:
            self._load_from = find_resume_checkpoint(self.work_dir)
            self._resume = self._load_from is not None
        super().load_or_resume()

    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        """``Runner.save_checkpoint`` onto a temporary name, renamed when complete."""
        save_checkpoint_atomically(super().save_checkpoint, out_dir, filename, *args, **kwargs)

    def build_model(self, model: Any) -> torch.nn.Module:
        """Build the model, then revert SyncBN modules when CUDA is unavailable.

        Args:
            model: A model config dict or an ``nn.Module``.

        Returns:
            nn.Module: The model.
        """
        model = super().build_model(model)
        if not torch.cuda.is_available():
            count = sum(type(module).__name__ == 'SyncBatchNorm' for module in model.modules())
            if count:
                _warn(f'CUDA is not available: {count} SyncBatchNorm module(s) reverted to '
                      'BatchNorm.')
                model = revert_sync_batchnorm(model)
        return model

    def load_checkpoint(self,
                        filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006
        """Load a checkpoint into the model, as ``Runner.load_checkpoint`` does.

        The file is read by :func:`~mmmobile.utils.checkpoints.read_checkpoint` with
        ``trusted=self.trust_checkpoint`` (one clear line for a bad file); when resuming or
        testing (:attr:`exact_weights`) the weights must fit the model exactly
        (:func:`~mmmobile.engine.resume.check_run_checkpoint`). ``after_load_checkpoint`` hooks
        run before the weights are loaded into the (unwrapped) model.

        Args:
            filename: Checkpoint path or URL.
            map_location: Passed to ``torch.load``.
            strict: Whether the state dict keys must match exactly.
            revise_keys: Regex substitutions applied to the state dict keys.

        Returns:
            dict: The loaded checkpoint.
        """
        checkpoint = read_checkpoint(filename, trusted=self.trust_checkpoint,
                                     map_location=map_location,
                                     what='resume checkpoint' if self._resuming else 'checkpoint')
        if self._resuming or self.exact_weights:
            check_run_checkpoint(self, checkpoint, filename, self._resuming)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def _is_local(path: str) -> bool:
    return not path.startswith(_REMOTE_PREFIXES) and '://' not in path


def load_config(config: str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Args:
        config: Path of the config file, or the name of a config shipped with mmmobile
            (``repvit-m0.6_demo-in1k.py``: found in the checkout's ``configs/`` or the installed
            package's ``.mim/configs``).
        cfg_options: ``key=value`` overrides (dotted keys), as parsed by mmengine's ``DictAction``.

    Returns:
        Config: The config.

    Raises:
        ToolError: The file does not exist (exit code 2).
    """
    path = config if osp.isfile(config) else find_config(config)
    if path is None:
        raise ToolError(f'config file not found: {config}', exit_code=2)
    return read_config(path, cfg_options)


def _set_work_dir(cfg: Config, config: str, work_dir: Optional[str]) -> None:
    """Priority: ``--work-dir`` > ``work_dir`` in the config > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def _check_checkpoint(path: str, what: str) -> None:
    if _is_local(path) and not osp.isfile(path):
        raise ToolError(f'{what} not found: {path}', exit_code=2)


def add_safe_checkpoint_hook(cfg: Config) -> bool:
    """Append ``mmmobile.SafeCheckpointHook`` to ``cfg.custom_hooks`` unless it is there.

    Args:
        cfg: The config, modified in place.

    Returns:
        bool: True when the hook was added.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    for hook in hooks:
        hook_type = hook.get('type') if isinstance(hook, dict) else type(hook)
        if hook_type is SafeCheckpointHook or _type_name(hook_type) == 'SafeCheckpointHook':
            return False
    hooks.append(dict(type='mmmobile.SafeCheckpointHook'))
    cfg.custom_hooks = hooks
    return True


def prepare_train_config(cfg: Config,
                         config: str,
                         work_dir: Optional[str] = None,
                         resume: Optional[str] = None,
                         amp: bool = False,
                         auto_scale_lr: bool = False,
                         no_validate: bool = False,
                         launcher: str = 'none') -> Config:
    """Apply the command-line options of ``tools/train.py`` to a config (in place).

    Args:
        cfg: The loaded config.
        config: Its path (names the default work dir ``./work_dirs/<name>``).
        work_dir: ``--work-dir``.
        resume: ``--resume``: None (no resume), ``'auto'`` (latest checkpoint of the work dir,
            found through its ``last_checkpoint`` file) or a checkpoint path.
        amp: ``--amp``: use ``AmpOptimWrapper`` with dynamic loss scale (reverted on CPU).
        auto_scale_lr: ``--auto-scale-lr``: needs ``auto_scale_lr.base_batch_size`` in the config.
        no_validate: ``--no-validate``: drop the validation loop.
        launcher: ``--launcher``.

    Returns:
        Config: ``cfg``.

    Raises:
        ToolError: A resume checkpoint that does not exist, or an option the config cannot take.
    """
    cfg.launcher = launcher
    _set_work_dir(cfg, config, work_dir)
    if amp:
        wrapper = cfg.get('optim_wrapper')
        current = _type_name(wrapper.get('type', 'OptimWrapper')) if isinstance(wrapper,
                                                                                dict) else None
        if current == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in the config.', logger='current')
        elif current == 'OptimWrapper':
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
        else:
            raise ToolError(f'--amp needs optim_wrapper.type OptimWrapper, got {current!r}')
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        _check_checkpoint(resume, 'resume checkpoint')
        cfg.resume = True
        cfg.load_from = resume
    if auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not isinstance(scale, dict) or 'base_batch_size' not in scale:
            raise ToolError('--auto-scale-lr needs auto_scale_lr = dict(base_batch_size=N) in the '
                            'config (the total batch size its learning rate was set for)')
        scale.enable = True
    if no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    add_safe_checkpoint_hook(cfg)
    add_nonfinite_loss_hook(cfg)
    use_keep_until_saved_hook(cfg)
    return cfg


def _enable_visualization(cfg: Config, show_dir: Optional[str], show: bool,
                          wait_time: float) -> None:
    """Turn on the toolbox's visualization hook for ``--show``/``--show-dir``."""
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if not isinstance(hook, dict):
        raise ToolError('--show/--show-dir need a "visualization" hook in default_hooks '
                        '(DetVisualizationHook, SegVisualizationHook or VisualizationHook)')
    name = _type_name(hook.get('type', ''))
    # Paint every test image: mmpretrain's hook draws one sample in `interval` (5000) and
    # mmseg's one batch in `interval` (50); mmdet's ignores it at test time.
    hook.interval = 1
    if name == 'VisualizationHook':  # mmpretrain
        hook.enable = True
        hook.out_dir = show_dir
    else:  # mmdet's DetVisualizationHook, mmseg's SegVisualizationHook
        hook.draw = True
        if show_dir and name == 'SegVisualizationHook':
            if isinstance(cfg.get('visualizer'), dict):
                cfg.visualizer.save_dir = show_dir
        elif show_dir:
            hook.test_out_dir = show_dir
    if show:
        hook.show = True
        hook.wait_time = wait_time


def _add_dump_metric(cfg: Config, out: str) -> None:
    """Save the test predictions for ``--out``."""
    scope = cfg.get('default_scope')
    evaluator = cfg.get('test_evaluator')
    if not out.endswith(('.pkl', '.pickle')):
        if scope == 'mmseg' and isinstance(evaluator, dict):  # mmseg: a folder of result images
            evaluator.output_dir = out
            evaluator.keep_results = True
            return
        raise ToolError(f'--out must be a .pkl/.pickle file, got {out}', exit_code=2)
    metric = dict(type='mmdet.DumpDetResults' if scope == 'mmdet' else 'DumpResults',
                  out_file_path=out)
    if isinstance(evaluator, list):
        cfg.test_evaluator = list(evaluator) + [metric]
    elif isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator.metrics
        evaluator.metrics = (list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
                             ) + [metric]
    elif isinstance(evaluator, dict):
        cfg.test_evaluator = [evaluator, metric]
    else:
        raise ToolError('--out needs a test_evaluator in the config')


def prepare_test_config(cfg: Config,
                        config: str,
                        checkpoint: str,
                        work_dir: Optional[str] = None,
                        out: Optional[str] = None,
                        show_dir: Optional[str] = None,
                        show: bool = False,
                        wait_time: float = 2.0,
                        launcher: str = 'none') -> Config:
    """Apply the command-line options of ``tools/test.py`` to a config (in place).

    Args:
        cfg: The loaded config.
        config: Its path (names the default work dir).
        checkpoint: The checkpoint to evaluate (path or URL), loaded through ``load_from``.
        work_dir: ``--work-dir``.
        out: ``--out``: a ``.pkl`` file receiving the predictions (mmengine's ``DumpResults``,
            mmdet's ``DumpDetResults``); for mmseg also a folder for result images.
        show_dir: ``--show-dir``: save painted predictions there (the toolbox's visualization
            hook).
        show: ``--show``: display them in a window.
        wait_time: ``--wait-time`` between displayed images, in seconds.
        launcher: ``--launcher``.

    Returns:
        Config: ``cfg``.

    Raises:
        ToolError: The checkpoint does not exist, or an option the config cannot take.
    """
    _check_checkpoint(checkpoint, 'checkpoint')
    cfg.launcher = launcher
    _set_work_dir(cfg, config, work_dir)
    cfg.load_from = checkpoint
    cfg.resume = False
    if show or show_dir:
        _enable_visualization(cfg, show_dir, show, wait_time)
    if out:
        _add_dump_metric(cfg, out)
    return cfg


def build_runner(cfg: Config, trust_checkpoint: bool = False) -> Runner:
    """Build the runner: :class:`MobileRunner` unless the config names a ``runner_type``.

    Args:
        cfg: A prepared config.
        trust_checkpoint: Load the run's checkpoint with ``weights_only=False``.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        if trust_checkpoint:
            _warn(f'--trust-checkpoint is ignored with runner_type={cfg.runner_type!r}.')
        return RUNNERS.build(cfg)
    runner = MobileRunner.from_cfg(cfg)
    runner.trust_checkpoint = trust_checkpoint
    return runner


def _destroy_process_group(success: bool) -> None:
    """Tear down the process group :func:`init_cpu_distributed` created.

    After a successful run all ranks meet at a barrier first: a rank that tears gloo down while
    another one is still finishing its last collectives aborts ("terminate called without an
    active exception").
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        if success:
            dist.barrier()
        dist.destroy_process_group()


def _init_distributed(launcher: str) -> bool:
    try:
        return init_cpu_distributed(launcher)
    except RuntimeError as error:
        raise ToolError(str(error)) from error


def validation_loaders(cfg: Config) -> List[str]:
    """Return the dataloader keys a training run reads: train, plus val when validation is on.

    Args:
        cfg: The prepared config.

    Returns:
        list[str]: ``['train_dataloader']`` or ``['train_dataloader', 'val_dataloader']``.
    """
    loaders = ['train_dataloader']
    if all(cfg.get(key) is not None for key in ('val_cfg', 'val_dataloader', 'val_evaluator')):
        loaders.append('val_dataloader')
    return loaders


def run_train(config: str,
              work_dir: Optional[str] = None,
              resume: Optional[str] = None,
              amp: bool = False,
              auto_scale_lr: bool = False,
              no_validate: bool = False,
              cfg_options: Optional[Dict[str, Any]] = None,
              launcher: str = 'none',
              trust_checkpoint: bool = False) -> Runner:
    """Train with a config of any toolbox: what ``tools/train.py`` runs.

    Steps: load the config, apply the options (:func:`prepare_train_config`), check the data
    (:func:`~mmmobile.engine.data_check.check_data_exists`), drop ``init_cfg`` pretrained weights
    that are not on disk, with a warning (the run starts from random initialisation; see
    :func:`~mmmobile.engine.data_check.find_missing_pretrained`), apply the CPU fallbacks, create
    a gloo process group for a distributed CPU run, build the runner and train.

    Args:
        config: Config file path.
        work_dir: Where logs and checkpoints go (default ``./work_dirs/<config name>``).
        resume: None, ``'auto'`` (latest checkpoint in the work dir) or a checkpoint path.
        amp: Mixed precision (refused on CPU with a warning).
        auto_scale_lr: Scale the learning rate with the real total batch size.
        no_validate: Skip validation.
        cfg_options: Overrides merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint: Resume from / load a checkpoint written elsewhere with
            ``weights_only=False`` (only for files you trust; see
            :func:`~mmmobile.engine.checkpoint.load_checkpoint_file`).

    Returns:
        Runner: The runner after training.

    Raises:
        ToolError, MissingDataError, UnsafeCheckpointError: User errors (see :data:`USER_ERRORS`).
    """
    cfg = load_config(config, cfg_options)
    prepare_train_config(cfg, config, work_dir=work_dir, resume=resume, amp=amp,
                         auto_scale_lr=auto_scale_lr, no_validate=no_validate, launcher=launcher)
    check_data_exists(cfg, validation_loaders(cfg), tool='tools/train.py')
    missing = find_missing_pretrained(cfg, drop=True)
    if missing:
        _warn(missing_pretrained_message(missing))
    apply_cpu_fallbacks(cfg, launcher=launcher)
    created = _init_distributed(launcher)
    success = False
    try:
        with config_errors(cfg):
            runner = build_runner(cfg, trust_checkpoint=trust_checkpoint)
            check_pretrained(runner.model.module if is_model_wrapper(runner.model) else
                             runner.model, cfg.model)
            runner.train()
        success = True
    finally:
        if created:
            _destroy_process_group(success)
    return runner


def run_test(config: str,
             checkpoint: str,
             work_dir: Optional[str] = None,
             out: Optional[str] = None,
             show_dir: Optional[str] = None,
             show: bool = False,
             wait_time: float = 2.0,
             cfg_options: Optional[Dict[str, Any]] = None,
             launcher: str = 'none',
             trust_checkpoint: bool = False) -> Dict[str, Any]:
    """Evaluate a checkpoint with a config of any toolbox: what ``tools/test.py`` runs.

    Args:
        config: Config file path.
        checkpoint: Checkpoint path or URL, or an exported ``.onnx`` model (``tools/deploy.py``),
            evaluated through onnxruntime (:mod:`mmmobile.deploy.runtime`).
        work_dir: Where logs go (default ``./work_dirs/<config name>``).
        out: ``.pkl`` file for the predictions (mmseg: also a folder for result images).
        show_dir: Folder for painted predictions.
        show: Display painted predictions.
        wait_time: Seconds between displayed images.
        cfg_options: Overrides merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint: Load the checkpoint with ``weights_only=False`` (only for files you
            trust; see :func:`~mmmobile.engine.checkpoint.load_checkpoint_file`).

    Returns:
        dict: The metrics returned by ``Runner.test``.

    Raises:
        ToolError, MissingDataError, UnsafeCheckpointError: User errors (see :data:`USER_ERRORS`).
    """
    cfg = load_config(config, cfg_options)
    prepare_test_config(cfg, config, checkpoint, work_dir=work_dir, out=out, show_dir=show_dir,
                        show=show, wait_time=wait_time, launcher=launcher)
    if checkpoint.endswith('.onnx'):  # an exported model, evaluated through onnxruntime
        from ..deploy.runtime import use_onnxruntime
        use_onnxruntime(cfg, checkpoint)
    check_data_exists(cfg, ['test_dataloader'], tool='tools/test.py')
    apply_cpu_fallbacks(cfg, launcher=launcher)
    created = _init_distributed(launcher)
    success = False
    try:
        with config_errors(cfg):
            runner = build_runner(cfg, trust_checkpoint=trust_checkpoint)
            runner.exact_weights = True
            metrics = runner.test()
        success = True
    finally:
        if created:
            _destroy_process_group(success)
    return metrics


__all__: Sequence[str] = [
    'MobileRunner', 'ToolError', 'USER_ERRORS', 'add_safe_checkpoint_hook', 'build_runner',
    'load_config', 'prepare_test_config', 'prepare_train_config', 'run_test', 'run_train',
    'validation_loaders'
]
