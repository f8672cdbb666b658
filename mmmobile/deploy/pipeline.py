"""The deploy pipeline behind ``tools/deploy.py`` and ``tools/fuse_ckpt.py``: fuse, save, export,
verify.

:func:`deploy` takes any mmpretrain/mmdet/mmseg config (and optionally a trained checkpoint),
re-parameterizes the whole model with :func:`mmmobile.switch_to_deploy`, writes the fused
checkpoint and a ``deploy=True`` config, exports the requested formats and verifies each against
PyTorch. Everything is built in a temporary folder beside the output folder and renamed at the
end, so a failure leaves nothing half-written.

Nothing here is specific to a backbone: a new backbone only needs its ``switch_to_deploy()`` (and
a ``deploy`` constructor flag for the deploy config).
"""
import copy
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config

from ..engine import load_config
from ..reparam import switch_to_deploy
from ..utils import ToolError
from ..utils.checkpoints import load_weights as load_checked_weights
from ..utils.io import check_output_folder, output_folder
from .export import (DYNAMIC_AXES, TOLERANCE, ExportError, export_onnx, export_torchscript,
                     max_relative_error, onnx_session, run_onnx)
from .end2end import (MIN_MATCHED, PADDING, check_parts, detection_difference, end2end_wrapper,
                      match_detections, output_difference, postprocess_config)
from .fuse import build_model, count_parameters, save_fused
from .wrappers import export_wrapper, model_task

#: Export formats and the file each writes into the output folder.
FORMATS = {'onnx': 'model.onnx', 'torchscript': 'model.torchscript.pt',
           'coreml': 'model.mlpackage'}

def load_weights(model: nn.Module, checkpoint: str, trusted: bool = False,
                 cfg: Optional[Config] = None) -> Dict:
    """Load ``checkpoint`` strictly into ``model``; a mismatch is named in one line.

    See :func:`mmmobile.utils.checkpoints.load_weights`: unreadable files, checkpoints of
    another family or variant, and fused checkpoints for a training config (or the reverse,
    given ``cfg``) are told apart.

    Args:
        model (nn.Module): The model built from the config.
        checkpoint (str): Checkpoint file (``{'state_dict': ...}`` or a flat state dict), read
            with ``weights_only=True`` unless ``trusted``.
        trusted (bool): Allow pickled objects (``--trust-checkpoint``). Defaults to False.
        cfg (Config, optional): The config ``model`` was built from.

    Returns:
        dict: The checkpoint's ``meta`` (empty when it has none).

    Raises:
        ToolError: The file cannot be read or does not fit the model.
    """
    return load_checked_weights(model, checkpoint, trusted=trusted,
                                model_cfg=cfg.model if cfg is not None else None,
                                scope=cfg.get('default_scope') if cfg is not None else None,
                                config_name=cfg.filename if cfg is not None else None)


def preprocessing(model: nn.Module) -> Dict:
    """The normalization and colour order of ``model``'s data preprocessor.

    Returns:
        dict: ``mean`` and ``std`` (per channel, in the model's channel order; 0 and 1 when the
        preprocessor does not normalize) and ``color``: ``'RGB'`` when the preprocessor converts
        the BGR images the toolboxes load (``to_rgb`` / ``bgr_to_rgb``), else ``'BGR'``.
    """
    processor = getattr(model, 'data_preprocessor', None)
    mean, std = getattr(processor, 'mean', None), getattr(processor, 'std', None)
    if mean is None or std is None or not getattr(processor, '_enable_normalize', True):
        mean, std = [0.0] * 3, [1.0] * 3
    else:
        mean, std = mean.flatten().tolist(), std.flatten().tolist()
    rgb = any(getattr(processor, name, False)
              for name in ('to_rgb', '_channel_conversion', 'channel_conversion'))
    return dict(mean=mean, std=std, color='RGB' if rgb else 'BGR')


def _check_request(formats: Sequence[str], input_shape: Sequence[int], batch_size: int,
                   dynamic: Sequence[str], out_dir: str, overwrite: bool) -> List[str]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ToolError(f'unknown export format {unknown[0]!r}; choose any of '
                        f'{", ".join(FORMATS)}', exit_code=2)
    if len(input_shape) != 2 or min(input_shape) < 1 or batch_size < 1:
        raise ToolError(f'invalid input shape {tuple(input_shape)} / batch size {batch_size}: '
                        'need H W >= 1 and a batch size >= 1', exit_code=2)
    bad_axes = [a for a in dynamic if a not in DYNAMIC_AXES]
    if bad_axes:
        raise ToolError(f'unknown dynamic axis {bad_axes[0]!r}; choose from '
                        f'{", ".join(DYNAMIC_AXES)}', exit_code=2)
    check_output_folder(out_dir, overwrite)
    return list(dict.fromkeys(formats))


def _outputs(wrapper: nn.Module, inputs: torch.Tensor) -> List[torch.Tensor]:
    with torch.no_grad():
        return list(wrapper(inputs))


def deploy(config: Union[str, Config],
           checkpoint: Optional[str] = None,
           out_dir: str = 'work_dirs/deploy',
           formats: Sequence[str] = ('onnx', ),
           input_shape: Tuple[int, int] = (224, 224),
           batch_size: int = 1,
           dynamic: Sequence[str] = DYNAMIC_AXES,
           fp16: bool = False,
           opset: int = 18,
           exporter: str = 'legacy',
           verify: bool = True,
           overwrite: bool = False,
           cfg_options: Optional[Dict] = None,
           trust_checkpoint: bool = False,
           tolerance: float = TOLERANCE,
           parts: Optional[str] = None,
           paste_masks: bool = False) -> Dict:
    """Fuse a model, write its deploy checkpoint and config, export and verify it.

    ``out_dir`` receives ``fused.pth`` and ``deploy_config.py`` (they load with
    ``tools/test.py``), one file per format (``model.onnx``, ``model.torchscript.pt``,
    ``model.mlpackage``) and ``report.json`` (the returned report).

    The ONNX and TorchScript models take the *normalized* image batch ``(pixel - mean) / std``
    in the model's colour order (the toolboxes' ``mode='tensor'`` input); the CoreML model takes
    an image and normalizes it itself (see :mod:`mmmobile.deploy.coreml`). Outputs (``parts``,
    see :data:`mmmobile.deploy.end2end.PARTS`): classifier logits; segmentation logits at the
    input size or the label map (``'labels'``); detections ``dets``, ``labels`` (and ``masks``)
    by default (:mod:`mmmobile.deploy.end2end`; the CoreML form of single-stage detectors is a
    pipeline ending in NonMaximumSuppression, :mod:`mmmobile.deploy.coreml_detector`), or the
    feature maps (plus the dense head outputs before NMS for single-stage detectors) with
    ``parts='features'``.

    Args:
        config (str | Config): A classifier, detector or segmentor config.
        checkpoint (str, optional): Trained weights; without them the model's own
            initialization is exported. Defaults to None.
        out_dir (str): Output folder, built beside its final place and renamed when complete.
            Existing results of an earlier run are replaced only with ``overwrite``; a folder
            holding anything else is refused (:func:`mmmobile.utils.io.check_output_folder`).
            Defaults to 'work_dirs/deploy'.
        formats (Sequence[str]): Any of ``'onnx'``, ``'torchscript'``, ``'coreml'``; none
            writes only the fused checkpoint and config (:func:`fuse_checkpoint`). Defaults to
            ``('onnx', )``.
        input_shape (tuple[int, int]): Export input ``(H, W)``. Defaults to (224, 224).
        batch_size (int): Export batch size (CoreML always uses 1). Defaults to 1.
        dynamic (Sequence[str]): ONNX axes to make dynamic where the model allows, from
            ``('batch', 'spatial')``. Defaults to both.
        fp16 (bool): CoreML in float16 (default float32). Defaults to False.
        opset (int): ONNX opset. Defaults to 18.
        exporter (str): ONNX exporter, ``'legacy'`` or ``'dynamo'``. Defaults to 'legacy'.
        verify (bool): Verify every step against PyTorch. Defaults to True.
        overwrite (bool): Replace the results in ``out_dir``. Defaults to False.
        cfg_options (dict, optional): ``--cfg-options`` overrides. Defaults to None.
        trust_checkpoint (bool): Load a checkpoint holding pickled objects. Defaults to False.
        tolerance (float): Largest accepted relative error. Defaults to 1e-4.
        parts (str, optional): What the exported model outputs, one of
            :data:`~mmmobile.deploy.end2end.PARTS` for the model's task (refused otherwise);
            None is the task's first. Defaults to None.
        paste_masks (bool): Instance segmentation detectors: paste the masks into the input
            inside the graph (``(N, K, H, W)`` bools; for small inputs). Defaults to False.

    Returns:
        dict: The report: task, shapes, preprocessing, ``params_before``/``params_after``,
        ``fuse_relative_difference`` (fused vs unfused), ``reload_relative_difference`` (the
        written checkpoint loaded with the deploy config vs the fused model), ``outputs`` and one
        entry per format (see :func:`~mmmobile.deploy.export.export_onnx`,
        :func:`~mmmobile.deploy.export.export_torchscript`,
        :func:`~mmmobile.deploy.coreml.export_coreml`).

    Raises:
        ToolError: Bad request, missing file, checkpoint/config mismatch, existing results,
            an operator an exporter cannot handle (:class:`ExportError`) or a failed check.
    """
    formats = _check_request(formats, input_shape, batch_size, dynamic, out_dir, overwrite)
    if isinstance(config, str):
        cfg = load_config(config, cfg_options)
    else:
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    model = build_model(cfg)
    meta = load_weights(model, checkpoint, trust_checkpoint, cfg) if checkpoint else {}
    task = model_task(model)
    parts = check_parts(task, parts)
    prep = preprocessing(model)

    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(batch_size, 3, *input_shape, generator=generator) * 255
    mean = torch.tensor(prep['mean']).reshape(1, -1, 1, 1)
    std = torch.tensor(prep['std']).reshape(1, -1, 1, 1)
    example = (pixels - mean) / std

    wrapper = export_wrapper(model)
    unfused = _outputs(wrapper, example)
    params_before = count_parameters(model)
    switch_to_deploy(model)
    params_after = count_parameters(model)
    expected = _outputs(wrapper, example)
    fuse_difference = max_relative_error(expected, unfused)
    if verify and not fuse_difference <= tolerance:
        raise ExportError(f'fused model differs from the unfused one: relative error '
                          f'{fuse_difference:.2e} > {tolerance:.0e}')
    # Fusing and reloading are checked on the tensor-mode outputs; the export may add the
    # post-processing (end-to-end detections, label maps).
    exported = (end2end_wrapper(model, task, parts, paste_masks) if formats else None) or wrapper
    exported_outputs = expected if exported is wrapper else _outputs(exported, example)
    output_names = exported.output_names(len(exported_outputs))

    tool = 'tools/deploy.py' if formats else 'tools/fuse_ckpt.py'
    with output_folder(out_dir, overwrite, tool=tool) as staging:
        fused_meta = dict(meta, fused_from=osp.basename(checkpoint) if checkpoint else None,
                          params_before=params_before, params_after=params_after)
        fused_file, config_file = save_fused(model, cfg, staging, fused_meta)
        reload_difference = None
        if verify:
            reloaded = export_wrapper(build_model(config_file, fused_file))
            reload_difference = max_relative_error(_outputs(reloaded, example), expected)
            if not reload_difference <= tolerance:
                raise ExportError('the fused checkpoint loaded with the deploy config differs '
                                  f'from the fused model: relative error {reload_difference:.2e}')
        report = dict(
            config=config if isinstance(config, str) else None, checkpoint=checkpoint,
            task=task, input_shape=[batch_size, 3, *input_shape],
            input='normalized image (pixel - mean) / std, channels in the given colour order',
            preprocessing=prep, params_before=params_before, params_after=params_after,
            fuse_relative_difference=fuse_difference,
            reload_relative_difference=reload_difference,
            parts=parts,
            outputs={n: list(t.shape) for n, t in zip(output_names, exported_outputs)},
            fused_checkpoint='fused.pth', deploy_config='deploy_config.py', formats={},
            verified=verify, tolerance=tolerance)
        if exported is not wrapper and task == 'detection':
            report.update(postprocess=postprocess_config(exported),
                          padding=PADDING['description'])
        for fmt in formats:
            path = osp.join(staging, FORMATS[fmt])
            try:
                result = _export_format(fmt, exported, example, pixels, path, output_names,
                                        task, parts, cfg, prep, dynamic, opset, exporter, fp16,
                                        verify, tolerance)
            except ExportError as error:
                if task == 'detection' and parts == 'detections' and 'differs' in str(error):
                    raise ExportError(f'{error} (end-to-end detections, compared detection '
                                      f'by detection: fewer than {MIN_MATCHED:.0%} agree, or '
                                      'the agreeing ones differ; near-equal scores, as of '
                                      'untrained weights, let float rounding reorder the top-k '
                                      'and NMS: verify with trained weights, or pass '
                                      '--no-verify)') from error
                raise
            result['file'] = FORMATS[fmt]
            report['formats'][fmt] = result
        with open(osp.join(staging, 'report.json'), 'w') as f:
            json.dump(report, f, indent=2)
    report['out_dir'] = out_dir
    return report


def _export_format(fmt: str, exported: nn.Module, example: torch.Tensor, pixels: torch.Tensor,
                   path: str, output_names: List[str], task: str, parts: str, cfg: Config,
                   prep: Dict, dynamic: Sequence[str], opset: int, exporter: str, fp16: bool,
                   verify: bool, tolerance: float) -> Dict:
    """Export and verify one format (see :func:`deploy`); the format's report entry."""
    detections = task == 'detection' and parts == 'detections'
    if fmt == 'onnx':
        result = export_onnx(exported, example, path, output_names, dynamic=dynamic,
                             opset=opset, exporter=exporter, verify=verify, tolerance=tolerance,
                             compare=detection_difference if detections else output_difference)
        if verify and detections:
            outputs = run_onnx(onnx_session(path), example)
            result['matched_detections'] = match_detections(
                outputs, _outputs(exported, example))['matched']
        return result
    if fmt == 'torchscript':
        return export_torchscript(exported, example, path, verify=verify, tolerance=tolerance)
    rgb = prep['color'] == 'RGB'
    if detections:
        from .coreml_detector import export_coreml_detector
        return export_coreml_detector(exported, cfg, pixels[:1], path, prep['mean'],
                                      prep['std'], rgb=rgb, fp16=fp16, verify=verify)
    from .coreml import export_coreml
    return export_coreml(exported, pixels[:1], path, output_names, prep['mean'], prep['std'],
                         rgb=rgb, fp16=fp16, verify=verify, tolerance=tolerance)


def fuse_checkpoint(config: Union[str, Config],
                    checkpoint: Optional[str],
                    out_dir: str,
                    input_shape: Tuple[int, int] = (224, 224),
                    batch_size: int = 1,
                    overwrite: bool = False,
                    cfg_options: Optional[Dict] = None,
                    trust_checkpoint: bool = False) -> Dict:
    """:func:`deploy` without export formats (what ``tools/fuse_ckpt.py`` runs).

    ``out_dir`` receives ``fused.pth``, ``deploy_config.py`` (``tools/test.py
    OUT/deploy_config.py OUT/fused.pth`` evaluates them) and ``report.json``; the fused model
    and the reloaded files are verified against the unfused model on a random input of
    ``input_shape``.

    Args:
        config (str | Config): A classifier, detector or segmentor config.
        checkpoint (str, optional): Trained weights.
        out_dir (str): Output folder; refused when it already holds files, unless
            ``overwrite``.
        input_shape (tuple[int, int]): ``(H, W)`` of the verification input. Defaults to
            (224, 224).
        batch_size (int): Batch of the verification input. Defaults to 1.
        overwrite (bool): Replace the results in ``out_dir``. Defaults to False.
        cfg_options (dict, optional): Config overrides. Defaults to None.
        trust_checkpoint (bool): Load a checkpoint holding pickled objects. Defaults to False.

    Returns:
        dict: The :func:`deploy` report, with an empty ``formats``.
    """
    return deploy(config, checkpoint, out_dir, formats=(), input_shape=input_shape,
                  batch_size=batch_size, overwrite=overwrite, cfg_options=cfg_options,
                  trust_checkpoint=trust_checkpoint)


def summary_lines(report: Dict) -> List[str]:
    """Human-readable lines of a :func:`deploy` report (what ``tools/deploy.py`` prints)."""
    lines = [f"{report['task']}: params {report['params_before']:,} -> "
             f"{report['params_after']:,} after fusing; fused vs unfused relative difference "
             f"{report['fuse_relative_difference']:.2e}"]
    if report['reload_relative_difference'] is not None:
        lines.append(f"fused.pth + deploy_config.py reload: relative difference "
                     f"{report['reload_relative_difference']:.2e}")
    if report.get('postprocess'):
        shapes = ', '.join(f'{name} {shape}' for name, shape in report['outputs'].items())
        settings = ', '.join(f'{key} {value}' for key, value in report['postprocess'].items()
                             if isinstance(value, (int, float)))
        lines.append(f'end-to-end outputs {shapes} ({settings}); {report["padding"]}')
    for fmt, result in report['formats'].items():
        if fmt == 'onnx':
            line = f"onnx ({result['exporter']} exporter, opset {result['opset']})"
            if result['relative_error'] is not None:
                line += (f": onnxruntime vs PyTorch relative error "
                         f"{result['relative_error']:.2e}")
            if result.get('matched_detections', 1.0) < 1.0:
                line += (f" over the {result['matched_detections']:.1%} of detections both "
                         'give (the others differ at near-tied scores)')
            line += f"; dynamic axes: {', '.join(result['dynamic_axes']) or 'none'}"
            for axis, reason in result['static_axes'].items():
                line += f'; {axis} static ({reason})'
        elif fmt == 'torchscript':
            line = f"torchscript (traced, {result['memory_format']})"
            if result['relative_error'] is not None:
                line += f": reloaded vs PyTorch relative error {result['relative_error']:.2e}"
        elif result.get('layout'):
            nms = result['nms']
            line = (f"coreml ({result['layout']}, {result['precision']}): NMS IoU "
                    f"{nms['iou_threshold']}, score threshold {nms['score_threshold']}, "
                    f"{len(nms['labels'])} class labels; numerics need macOS")
        else:
            line = f"coreml (mlprogram, {result['precision']})"
            if result.get('ops'):
                top = ', '.join(f'{op} {n}' for op, n in list(result['ops'].items())[:5])
                line += (f": spec ok, inputs {list(result['inputs'])}, outputs "
                         f"{list(result['outputs'])}, {sum(result['ops'].values())} ops ({top}, "
                         f"...); preprocessing fold relative error "
                         f"{result['fold_relative_error']:.2e}; numerics need macOS")
        lines.append(line)
    lines.append(f"wrote {report['out_dir']}")
    return lines
