"""Deployment: fuse a trained model, export it to ONNX / TorchScript / CoreML and verify it."""
from .coreml import export_coreml, fold_normalization, inspect_spec
from .export import (DYNAMIC_AXES, TOLERANCE, ExportError, export_onnx, export_torchscript,
                     relative_error)
from .fuse import build_model, count_parameters, deploy_config, fuse_checkpoint, save_fused
from .pipeline import FORMATS, deploy, load_weights, preprocessing, summary_lines
from .wrappers import export_wrapper, model_task

__all__ = [
    'DYNAMIC_AXES', 'ExportError', 'FORMATS', 'TOLERANCE', 'build_model', 'count_parameters',
    'deploy', 'deploy_config', 'export_coreml', 'export_onnx', 'export_torchscript',
    'export_wrapper', 'fold_normalization', 'fuse_checkpoint', 'inspect_spec', 'load_weights',
    'model_task', 'preprocessing', 'relative_error', 'save_fused', 'summary_lines'
]
