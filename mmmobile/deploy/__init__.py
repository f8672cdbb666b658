"""Deployment: fusing trained models (export to ONNX/TorchScript/CoreML builds on this)."""
from .fuse import build_model, count_parameters, deploy_config, fuse_checkpoint

__all__ = ['build_model', 'count_parameters', 'deploy_config', 'fuse_checkpoint']
