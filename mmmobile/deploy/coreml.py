"""CoreML export (coremltools ``mlprogram``, ``.mlpackage``) with the preprocessing folded in.

The CoreML model takes an image (``ct.ImageType``) in the colour order the model was trained on
and normalizes it itself: CoreML computes ``scale * pixel + bias[c]`` with one scalar ``scale``
and a per-channel ``bias``. mmpretrain/mmdet/mmseg normalize with a per-channel std, so:

- ``scale = 1 / s`` with ``s`` the mean of the per-channel std, ``bias[c] = -mean[c] / s``;
- when the stds differ, the exported graph starts with a per-channel multiplication by
  ``s / std[c]`` (:class:`ChannelScale`), which makes the result exactly
  ``(pixel - mean[c]) / std[c]``. The fold is verified in PyTorch (emulating CoreML's scale and
  bias) against the normalized input.

Prediction needs macOS: on Linux the saved package is verified by reading its spec back
(input/output names and shapes, the preprocessing parameters, the op histogram).
"""
import collections
import contextlib
import io
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .export import (TOLERANCE, ExportError, max_relative_error, quiet_export, trace_module,
                     unsupported_op_message)


def import_coremltools():
    """Import coremltools without its Linux start-up warnings (no native runtime here)."""
    logging.getLogger('coremltools').setLevel(logging.ERROR)
    import coremltools as ct
    return ct


def fold_normalization(mean: Sequence[float],
                       std: Sequence[float]) -> Tuple[float, List[float], Optional[List[float]]]:
    """CoreML image ``scale``, ``bias`` and the residual channel factors for ``(x - mean) / std``.

    Args:
        mean (Sequence[float]): Per-channel mean in the model's channel order.
        std (Sequence[float]): Per-channel std.

    Returns:
        tuple: ``scale`` (float), ``bias`` (one per channel) and the per-channel factors the
        graph must apply after CoreML's preprocessing (None when every std is the same).
    """
    common = sum(std) / len(std)
    scale = 1.0 / common
    bias = [-m / common for m in mean]
    if max(std) - min(std) <= 1e-9 * common:
        return scale, bias, None
    return scale, bias, [common / s for s in std]


class ChannelScale(nn.Module):
    """Multiply each input channel by a constant factor, then run ``model``.

    Args:
        model (nn.Module): The export wrapper.
        factors (Sequence[float], optional): One factor per channel; None runs ``model`` as is.
    """

    def __init__(self, model: nn.Module, factors: Optional[Sequence[float]]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer(
            'factors', None if factors is None else torch.tensor(factors).reshape(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.factors is not None:
            image = image * self.factors
        return self.model(image)


def _operations(block) -> List[str]:
    """Op types of an MIL block, nested blocks included."""
    types = []
    for operation in block.operations:
        types.append(operation.type)
        for nested in operation.blocks:
            types += _operations(nested)
    return types


def inspect_spec(path: str) -> Dict:
    """Read a saved ``.mlpackage``'s spec: inputs, outputs, op histogram, preprocessing.

    Args:
        path (str): The ``.mlpackage`` folder.

    Returns:
        dict: ``spec_version``, ``inputs`` (name -> dict with ``type`` and ``shape``, image
        inputs also ``color``), ``outputs`` (name -> shape, where the spec records it) and
        ``ops`` (op type -> count).
    """
    ct = import_coremltools()
    spec = ct.utils.load_spec(path)
    inputs = {}
    for feature in spec.description.input:
        kind = feature.type.WhichOneof('Type')
        if kind == 'imageType':
            image = feature.type.imageType
            color = ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
            inputs[feature.name] = dict(type='image', shape=[int(image.height), int(image.width)],
                                        color=color)
        else:
            inputs[feature.name] = dict(type=kind, shape=list(feature.type.multiArrayType.shape))
    outputs = {f.name: [int(d) for d in f.type.multiArrayType.shape]
               for f in spec.description.output}
    ops: Dict[str, int] = collections.Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            ops.update(_operations(block))
    return dict(spec_version=int(spec.specificationVersion), inputs=inputs, outputs=outputs,
                ops=dict(sorted(ops.items(), key=lambda item: (-item[1], item[0]))))


def export_coreml(wrapper: nn.Module, pixels: torch.Tensor, path: str,
                  output_names: List[str], mean: Sequence[float], std: Sequence[float],
                  rgb: bool = True, fp16: bool = False, verify: bool = True,
                  tolerance: float = TOLERANCE, frontend: str = 'trace') -> Dict:
    """Convert ``wrapper`` to a CoreML ``mlprogram`` with an image input and save it.

    Args:
        wrapper (nn.Module): Maps a *normalized* image batch to a tuple of tensors.
        pixels (Tensor): An example image ``(1, 3, H, W)`` with values in [0, 255], in the
            model's channel order; fixes the CoreML input size.
        path (str): Output ``.mlpackage`` folder.
        output_names (list[str]): Names of the outputs.
        mean (Sequence[float]): The data preprocessor's per-channel mean.
        std (Sequence[float]): The data preprocessor's per-channel std.
        rgb (bool): The model consumes RGB (else BGR) channel order. Defaults to True.
        fp16 (bool): Compute in float16 (CoreML's default for ML programs); float32 otherwise.
            Defaults to False.
        verify (bool): Check the saved spec and the preprocessing fold. Defaults to True.
        tolerance (float): Largest accepted relative error of the fold check. Defaults to 1e-4.
        frontend (str): ``'trace'`` (``torch.jit.trace``) or ``'export'`` (``torch.export``,
            which specializes every size: for code that computes with traced sizes, such as
            mmdet's box coders, whose tensor-to-int casts coremltools cannot convert).
            Defaults to 'trace'.

    Returns:
        dict: ``file``, ``precision``, ``preprocessing`` (scale, bias, colour, channel factors),
        ``fold_relative_error`` and the spec summary of :func:`inspect_spec`.

    Raises:
        ExportError: coremltools cannot convert an operator (named), or the saved spec does not
            have the expected inputs and outputs, or the fold differs.
    """
    ct = import_coremltools()
    scale, bias, factors = fold_normalization(mean, std)
    module = ChannelScale(wrapper, factors).eval()
    mean_t = torch.tensor(mean).reshape(1, -1, 1, 1)
    std_t = torch.tensor(std).reshape(1, -1, 1, 1)
    with torch.no_grad():
        expected = list(wrapper((pixels - mean_t) / std_t))
    example = scale * pixels + torch.tensor(bias).reshape(1, -1, 1, 1)
    if frontend == 'export':
        with quiet_export(), torch.no_grad():
            program = torch.export.export(module, (example, ), strict=False)
        program = program.run_decompositions({})
        converted, traced = program, program.module()
    else:
        converted = traced = trace_module(module, example)
    image_input = ct.ImageType(name='image', shape=tuple(pixels.shape), scale=scale, bias=bias,
                               color_layout=ct.colorlayout.RGB if rgb else ct.colorlayout.BGR)
    precision = ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            mlmodel = ct.convert(converted, inputs=[image_input],
                                 outputs=[ct.TensorType(name=name) for name in output_names],
                                 convert_to='mlprogram', compute_precision=precision,
                                 skip_model_load=True)
    except Exception as error:  # noqa: BLE001 - converter errors become one message
        raise ExportError(unsupported_op_message('CoreML conversion (coremltools)',
                                                 error)) from error
    mlmodel.save(path)
    report = dict(file=path, precision='float16' if fp16 else 'float32',
                  preprocessing=dict(scale=scale, bias=bias, color='RGB' if rgb else 'BGR',
                                     channel_factors=factors),
                  fold_relative_error=None)
    if not verify:
        return report
    # CoreML's preprocessing, emulated: scale * pixel + bias[c], then the traced graph.
    with torch.no_grad():
        folded = list(traced(scale * pixels + torch.tensor(bias).reshape(1, -1, 1, 1)))
    fold_error = max_relative_error(folded, expected)
    if not fold_error <= tolerance:
        raise ExportError(f'CoreML preprocessing fold differs from the normalized input: '
                          f'relative error {fold_error:.2e}')
    report['fold_relative_error'] = fold_error
    summary = inspect_spec(path)
    image = summary['inputs'].get('image')
    problems = []
    if list(summary['inputs']) != ['image'] or image is None or image['type'] != 'image':
        problems.append(f"inputs {summary['inputs']} (expected one image input 'image')")
    elif image['shape'] != list(pixels.shape[2:]) or image['color'] != ('RGB' if rgb else 'BGR'):
        problems.append(f"image input {image} (expected {list(pixels.shape[2:])}, "
                        f"{'RGB' if rgb else 'BGR'})")
    if list(summary['outputs']) != list(output_names):
        problems.append(f"outputs {list(summary['outputs'])} (expected {output_names})")
    else:
        for name, tensor in zip(output_names, expected):
            shape = summary['outputs'][name]
            if shape and shape != list(tensor.shape):
                problems.append(f'output {name} has shape {shape}, PyTorch {list(tensor.shape)}')
    if not summary['ops']:
        problems.append('the ML program holds no operations')
    if problems:
        raise ExportError('saved CoreML spec is not as expected: ' + '; '.join(problems))
    report.update(summary)
    return report
