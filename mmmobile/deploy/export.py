"""ONNX and TorchScript export of an export wrapper, each verified against PyTorch.

ONNX goes through ``torch.onnx.export`` with the TorchScript-based ("legacy") exporter by
default: on our backbones it gives the same numerics as the dynamo exporter, exports 5-10x
faster (CMT-Ti: 1.5 s against 13 s), and takes ``dynamic_axes`` for batch and spatial sizes,
where the dynamo exporter specializes every size that the model's Python code reads. The dynamo
exporter is available with ``exporter='dynamo'``.

Dynamic axes are *verified*, not assumed: after exporting with the requested dynamic axes the
graph runs in onnxruntime at a second batch size and a second spatial size; an axis whose run
fails or differs from PyTorch is made static (the model is exported again) and the reason is
reported. Models whose Python code decides on the input size (CMT's position-bias resize and
padding, size-dependent reshapes) are exported static in H and W this way.
"""
import contextlib
import copy
import io
import re
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..layout import preferred_memory_format, to_preferred_memory_format
from ..utils import ToolError, relative_error

#: Relative error (``||a - b|| / ||b||``) the exported outputs must reach against PyTorch.
TOLERANCE = 1e-4

#: Axes the exporters can make dynamic.
DYNAMIC_AXES = ('batch', 'spatial')

_ANSI_CODES = re.compile(r'\x1b\[[0-9;]*m')
_OP_NAME = re.compile(r"(?:operator|op) '([\w:.]+)'|when translating ([\w:.]+)|"
                      r"[Uu]nsupported fx node ([\w:.]+)")


class ExportError(ToolError):
    """An exporter failed (e.g. an operator it cannot convert) or verification failed."""


def max_relative_error(actual: Sequence, expected: Sequence[torch.Tensor]) -> float:
    """The largest :func:`relative_error` over paired outputs (inf when the counts differ)."""
    if len(actual) != len(expected):
        return float('inf')
    return max(relative_error(a, e) for a, e in zip(actual, expected))


def unsupported_op_message(exporter: str, error: BaseException) -> str:
    """One line naming the operator an exporter could not handle (or the error itself)."""
    text = _ANSI_CODES.sub('', str(error)).strip()
    match = _OP_NAME.search(text)
    first_line = text.splitlines()[0] if text else type(error).__name__
    if match:
        name = next(group for group in match.groups() if group)
        return (f'{exporter} cannot handle the operator {name!r} '
                f'({type(error).__name__}: {first_line})')
    return f'{exporter} failed: {type(error).__name__}: {first_line}'


@contextlib.contextmanager
def quiet_export():
    """Silence the tracer and exporter warnings (deprecation notices, size-to-constant notes).

    Whether a traced size is really static is checked by running the export at other sizes.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', category=FutureWarning)
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='.*torch.jit.(trace|load).*')
        warnings.filterwarnings('ignore', message='.*ONNX.*')
        yield


def probe_inputs(example: torch.Tensor, axes: Sequence[str],
                 seed: int = 1) -> Dict[str, torch.Tensor]:
    """Inputs that differ from ``example`` in one axis each: batch + 1, or H and W + 32."""
    generator = torch.Generator().manual_seed(seed)
    batch, channels, height, width = example.shape
    shapes = {'batch': (batch + 1, channels, height, width),
              'spatial': (batch, channels, height + 32, width + 32)}
    return {axis: torch.randn(*shapes[axis], generator=generator) for axis in axes}


def _run_wrapper(wrapper: nn.Module, inputs: torch.Tensor) -> List[torch.Tensor]:
    with torch.no_grad():
        return list(wrapper(inputs))


def onnx_session(path: str, threads: Optional[int] = None,
                 providers: Sequence[str] = ('CPUExecutionProvider', )):
    """An onnxruntime session for ``path`` that keeps the runtime's own log out of the terminal.

    A failing run reaches the caller as an exception (the deploy report keeps its first line);
    onnxruntime would also print it as an ``[E:onnxruntime:...]`` line, so only fatal messages
    are logged.

    Args:
        path (str): The ``.onnx`` file.
        threads (int, optional): Intra-op threads, without spinning (for timing). Defaults to
            onnxruntime's choice.
        providers (Sequence[str]): Execution providers. Defaults to the CPU provider.
    """
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads keep a core busy after each run and slow whichever model an
        # interleaved benchmark loop times next (measured: 2x on MobileViTv3-XXS).
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=list(providers))


def run_onnx(session, inputs: torch.Tensor) -> List[np.ndarray]:
    """Run an onnxruntime session on one input batch."""
    return session.run(None, {session.get_inputs()[0].name: inputs.numpy()})


def _onnx_export(wrapper: nn.Module, example: torch.Tensor, path: str,
                 output_names: List[str], dynamic: Sequence[str], opset: int,
                 exporter: str, output_ranks: Sequence[int]) -> None:
    if exporter == 'legacy':
        dynamic_axes = {}
        if dynamic:
            axes = {}
            if 'batch' in dynamic:
                axes[0] = 'batch'
            if 'spatial' in dynamic:
                axes.update({2: 'height', 3: 'width'})
            dynamic_axes['image'] = axes
            for name, rank in zip(output_names, output_ranks):
                out_axes = {0: 'batch'} if 'batch' in dynamic else {}
                if 'spatial' in dynamic and rank == 4:
                    out_axes.update({2: f'{name}_height', 3: f'{name}_width'})
                if out_axes:
                    dynamic_axes[name] = out_axes
        torch.onnx.export(wrapper, (example, ), path, dynamo=False, opset_version=opset,
                          input_names=['image'], output_names=output_names,
                          dynamic_axes=dynamic_axes or None)
    elif exporter == 'dynamo':
        dims = {}
        if 'batch' in dynamic:
            dims[0] = torch.export.Dim.AUTO
        if 'spatial' in dynamic:
            dims.update({2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO})
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(wrapper, (example, ), path, dynamo=True, opset_version=opset,
                              input_names=['image'], output_names=output_names,
                              dynamic_shapes={'image': dims} if dims else None,
                              external_data=False)
    else:
        raise ToolError(f"unknown ONNX exporter {exporter!r}; choose 'legacy' or 'dynamo'",
                        exit_code=2)


def export_onnx(wrapper: nn.Module, example: torch.Tensor, path: str,
                output_names: List[str], dynamic: Sequence[str] = DYNAMIC_AXES,
                opset: int = 18, exporter: str = 'legacy', verify: bool = True,
                tolerance: float = TOLERANCE,
                compare: Callable[[Sequence, Sequence], float] = max_relative_error) -> Dict:
    """Export ``wrapper`` to ONNX and verify it in onnxruntime against PyTorch.

    Args:
        wrapper (nn.Module): Maps a normalized image batch to a tuple of tensors (see
            :mod:`mmmobile.deploy.wrappers`).
        example (Tensor): The export input ``(N, 3, H, W)``.
        path (str): Output ``.onnx`` file.
        output_names (list[str]): Names of the outputs.
        dynamic (Sequence[str]): Requested dynamic axes, a subset of ``('batch', 'spatial')``.
            Axes that do not work for the model are made static (see the module docstring).
        opset (int): ONNX opset. Defaults to 18 (``aten::col2im`` needs 18).
        exporter (str): ``'legacy'`` (TorchScript-based, default) or ``'dynamo'``.
        verify (bool): Compare onnxruntime with PyTorch (and check the dynamic axes). Without
            verification the requested axes are exported as they are. Defaults to True.
        tolerance (float): Largest accepted relative error. Defaults to 1e-4.
        compare (Callable): ``compare(onnxruntime outputs, PyTorch outputs)`` -> the error
            held against ``tolerance``. Defaults to :func:`max_relative_error` (end-to-end
            detectors: :func:`mmmobile.deploy.end2end.output_difference`).

    Returns:
        dict: ``file``, ``exporter``, ``opset``, ``inputs``/``outputs`` (name -> shape at the
        export size), ``relative_error`` (None without verification), ``dynamic_axes`` (the
        axes that work) and ``static_axes`` (axis -> why it is static).

    Raises:
        ExportError: The exporter cannot handle an operator (named), or onnxruntime differs
            from PyTorch at the export size.
    """
    unknown = set(dynamic) - set(DYNAMIC_AXES)
    if unknown:
        raise ToolError(f'unknown dynamic axes {sorted(unknown)}; choose from {DYNAMIC_AXES}',
                        exit_code=2)
    expected = _run_wrapper(wrapper, example)
    ranks = [e.dim() for e in expected]
    dynamic = [axis for axis in DYNAMIC_AXES if axis in dynamic]
    static: Dict[str, str] = {}

    def export(axes: Sequence[str]):
        try:
            with quiet_export():
                _onnx_export(wrapper, example, path, output_names, axes, opset, exporter, ranks)
        except ToolError:
            raise
        except Exception as error:  # noqa: BLE001 - exporter errors become one message
            raise ExportError(unsupported_op_message(f'ONNX export ({exporter} exporter)',
                                                     error)) from error
        return onnx_session(path)

    try:
        session = export(dynamic)
    except ExportError as failure:
        if not dynamic:
            raise
        session = export([])  # raises when the static export fails too
        static.update({axis: f'the export with dynamic sizes fails: {failure}'
                       for axis in dynamic})
        dynamic = []
    error = None
    if verify:
        error = compare(run_onnx(session, example), expected)
        if not error <= tolerance:
            raise ExportError(f'ONNX output differs from PyTorch at {tuple(example.shape)}: '
                              f'relative error {error:.2e} > {tolerance:.0e}')
        for axis, probe in probe_inputs(example, dynamic).items():
            try:
                probe_error = compare(run_onnx(session, probe),
                                                 _run_wrapper(wrapper, probe))
                reason = (None if probe_error <= tolerance else
                          f'at {tuple(probe.shape)} onnxruntime differs from PyTorch '
                          f'(relative error {probe_error:.2e})')
            except Exception as probe_failure:  # noqa: BLE001 - any failure makes it static
                text = str(probe_failure).strip().splitlines()
                reason = (f'onnxruntime fails at {tuple(probe.shape)}: '
                          f'{text[0][:200] if text else type(probe_failure).__name__}')
            if reason is not None:
                static[axis] = reason
        if static:
            dynamic = [axis for axis in dynamic if axis not in static]
            session = export(dynamic)
            error = compare(run_onnx(session, example), expected)
            if not error <= tolerance:
                raise ExportError(f'ONNX output differs from PyTorch at {tuple(example.shape)}: '
                                  f'relative error {error:.2e} > {tolerance:.0e}')
    inputs = {i.name: list(i.shape) for i in session.get_inputs()}
    outputs = {o.name: list(o.shape) for o in session.get_outputs()}
    return dict(file=path, exporter=exporter, opset=opset, inputs=inputs, outputs=outputs,
                relative_error=error, dynamic_axes=list(dynamic), static_axes=static)


def trace_module(wrapper: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """``torch.jit.trace`` with the exporter warnings silenced, under ``no_grad``."""
    with quiet_export(), torch.no_grad():
        return torch.jit.trace(wrapper, example, check_trace=False)


def export_torchscript(wrapper: nn.Module, example: torch.Tensor, path: str,
                       verify: bool = True, tolerance: float = TOLERANCE) -> Dict:
    """Trace ``wrapper`` in the model's preferred memory layout, save and verify it.

    The wrapper is copied and moved to its preferred layout
    (:func:`mmmobile.layout.to_preferred_memory_format`) before tracing, so the saved module
    runs the layout the benchmarks measured fastest; feed it inputs in that layout for speed
    (any layout gives the same values).

    Args:
        wrapper (nn.Module): Maps a normalized image batch to a tuple of tensors.
        example (Tensor): The trace input ``(N, 3, H, W)``.
        path (str): Output file (``torch.jit.load`` reads it).
        verify (bool): Reload the file and compare with PyTorch; also record whether the trace
            generalizes to another batch and spatial size. Defaults to True.
        tolerance (float): Largest accepted relative error. Defaults to 1e-4.

    Returns:
        dict: ``file``, ``memory_format``, ``relative_error`` and ``other_sizes`` (axis -> the
        relative error at a second size, or why it fails).

    Raises:
        ExportError: Tracing fails, or the reloaded module differs from PyTorch.
    """
    expected = _run_wrapper(wrapper, example)
    layout_name = ('channels_last' if preferred_memory_format(wrapper) == torch.channels_last
                   else 'contiguous')
    traced_wrapper, traced_example = to_preferred_memory_format(copy.deepcopy(wrapper), example)
    try:
        traced = trace_module(traced_wrapper, traced_example)
    except Exception as error:  # noqa: BLE001 - tracer errors become one message
        raise ExportError(unsupported_op_message('TorchScript tracing', error)) from error
    traced.save(path)
    report = dict(file=path, memory_format=layout_name, relative_error=None, other_sizes={})
    if not verify:
        return report
    with quiet_export():
        loaded = torch.jit.load(path)
    with torch.no_grad():
        error = max_relative_error(list(loaded(traced_example)), expected)
    if not error <= tolerance:
        raise ExportError(f'TorchScript output differs from PyTorch at {tuple(example.shape)}: '
                          f'relative error {error:.2e} > {tolerance:.0e}')
    report['relative_error'] = error
    for axis, probe in probe_inputs(example, DYNAMIC_AXES).items():
        try:
            with torch.no_grad():
                probe_error = max_relative_error(list(loaded(probe)),
                                                 _run_wrapper(wrapper, probe))
            report['other_sizes'][axis] = probe_error
        except Exception as failure:  # noqa: BLE001 - recorded, not fatal
            text = str(failure).strip().splitlines()
            report['other_sizes'][axis] = f'fails: {text[-1][:200] if text else failure!r}'
    return report
