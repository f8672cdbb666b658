"""Deployment: fuse a trained model, export it to ONNX / TorchScript / CoreML and verify it."""
from .coreml import export_coreml, fold_normalization, inspect_spec
from .export import (DYNAMIC_AXES, TOLERANCE, ExportError, export_onnx, export_torchscript,
                     onnx_session)
from .fuse import build_model, count_parameters, deploy_config, save_fused
from .pipeline import FORMATS, deploy, fuse_checkpoint, load_weights, preprocessing, summary_lines
from .wrappers import TensorMode, export_wrapper, model_task

__all__ = [
    'DYNAMIC_AXES', 'ExportError', 'FORMATS', 'TOLERANCE', 'TensorMode', 'build_model',
    'count_parameters', 'deploy', 'deploy_config', 'export_coreml', 'export_onnx',
    'export_torchscript', 'export_wrapper', 'fold_normalization', 'fuse_checkpoint',
    'inspect_spec', 'load_weights', 'model_task', 'onnx_session', 'preprocessing', 'save_fused',
    'summary_lines'
]
