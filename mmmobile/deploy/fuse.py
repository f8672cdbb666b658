"""Build a model, derive its deploy config and save a fused model as checkpoint + config."""
import copy
import inspect
import os.path as osp
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from ..engine import load_config, make_weights_only_safe
from ..utils.checkpoints import load_weights
from ..utils.configs import config_dicts, config_errors


def _as_config(config: Union[str, Config]) -> Config:
    """A private copy of ``config`` (a Config object, or a file read by the engine's loader)."""
    return copy.deepcopy(config) if isinstance(config, Config) else load_config(config)


def build_model(config: Union[str, Config], checkpoint: Optional[str] = None,
                device: str = 'cpu') -> nn.Module:
    """Build the model of any mmpretrain/mmdet/mmseg config, optionally load weights, in eval mode.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load strictly
            (:func:`mmmobile.utils.checkpoints.load_weights`: a mismatch is named in one
            line). Defaults to None.
        device (str): Device. Defaults to 'cpu'.

    Returns:
        nn.Module: The model in eval mode.
    """
    cfg = _as_config(config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with config_errors(cfg):
        model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if checkpoint is not None:
        load_weights(model, checkpoint, model_cfg=cfg.model, scope=cfg.get('default_scope'),
                     config_name=cfg.filename)
    return model.to(device).eval()


def deploy_config(config: Union[str, Config]) -> Config:
    """Return a copy of ``config`` whose mmmobile modules build their fused form (``deploy=True``).

    Every model sub-config whose registered class accepts a ``deploy`` argument gets
    ``deploy=True``; pretrained-initialization configs of those modules are dropped, because the
    fused checkpoint holds all weights.

    Args:
        config (str | Config): The training config.

    Returns:
        Config: The deploy config.
    """
    cfg = _as_config(config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))

    for node in config_dicts(cfg.model):
        module_type = node.get('type')
        if isinstance(module_type, str):
            try:
                module_cls = MODELS.get(module_type)
            except Exception:  # noqa: BLE001 - unknown types are simply not re-parameterizable
                module_cls = None
            if module_cls is not None and 'deploy' in inspect.signature(
                    module_cls.__init__).parameters:
                node['deploy'] = True
                node['init_cfg'] = None
    return cfg


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def save_fused(model: nn.Module, config: Union[str, Config], folder: str,
               meta: Optional[Dict] = None) -> Tuple[str, str]:
    """Write a fused model's ``fused.pth`` and its ``deploy_config.py`` into ``folder``.

    The state dict is checked to load strictly into the model built from the deploy config
    before anything is written.

    Args:
        model (nn.Module): The model after :func:`mmmobile.switch_to_deploy`.
        config (str | Config): Its training config.
        folder (str): An existing folder.
        meta (dict, optional): Stored as the checkpoint's ``meta``.

    Returns:
        tuple[str, str]: Paths of the checkpoint and the deploy config.
    """
    deploy_cfg = deploy_config(config)
    deployed = build_model(deploy_cfg)
    deployed.load_state_dict(model.state_dict(), strict=True)
    checkpoint = osp.join(folder, 'fused.pth')
    config_file = osp.join(folder, 'deploy_config.py')
    # The meta of a trusted source may hold numpy objects: keep fused.pth weights_only-loadable.
    torch.save({'state_dict': model.state_dict(),
                'meta': make_weights_only_safe(dict(meta or {}))}, checkpoint)
    deploy_cfg.dump(config_file)
    return checkpoint, config_file
