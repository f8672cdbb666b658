"""Deployment: fuse a trained model, export it to ONNX / TorchScript / CoreML and verify it.

Detectors export end to end (:mod:`.end2end`: detections out of the graph; :mod:`.coreml_detector`:
Core ML pipelines ending in NonMaximumSuppression); :mod:`.runtime` evaluates an exported ONNX model
with the toolboxes' own test loop and metrics.
"""
from .coreml import export_coreml, fold_normalization, inspect_spec
from .end2end import PARTS, end2end_wrapper, paste_roi_masks
from .export import (DYNAMIC_AXES, TOLERANCE, ExportError, export_onnx, export_torchscript,
                     onnx_session)
from .fuse import build_model, count_parameters, deploy_config, save_fused
from .pipeline import FORMATS, deploy, fuse_checkpoint, load_weights, preprocessing, summary_lines
from .wrappers import TensorMode, export_wrapper, model_task

__all__ = [
    'DYNAMIC_AXES', 'ExportError', 'FORMATS', 'PARTS', 'TOLERANCE', 'TensorMode', 'build_model',
    'count_parameters', 'deploy', 'deploy_config', 'end2end_wrapper', 'export_coreml',
    'export_onnx', 'export_torchscript', 'export_wrapper', 'fold_normalization',
    'fuse_checkpoint', 'inspect_spec', 'load_weights', 'model_task', 'onnx_session',
    'paste_roi_masks', 'preprocessing', 'save_fused', 'summary_lines'
]
