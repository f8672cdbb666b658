"""Benchmark any config or registered variant: size, cost, latency and throughput, with peers.

:func:`run_benchmark` is what ``tools/benchmark.py`` calls. Per target (a config file or a
variant name from :mod:`mmmobile.benchmark.zoo`) it

- counts parameters (training and fused form) and the fused model's MACs at the input size with
  mmengine's ``get_model_complexity_info``;
- builds the candidates: our model unfused and fused (eager, in its preferred memory layout,
  :mod:`mmmobile.layout`; the fused model also in the other layout, so the preference stays
  measured), the fused model traced with TorchScript, exported to ONNX Runtime and (asked for by
  name) compiled with ``torch.compile`` (:func:`compile_model`, compile time reported), and the
  peer package's classifier (:mod:`mmmobile.benchmark.peers`) in NCHW and channels_last; a
  candidate that fails to build is a row saying why;
- checks that every candidate of ours, and a peer that takes our weights (mmpretrain's
  RepLKNet), computes the unfused model's output (BN statistics are randomized first, so fusing
  is not trivially exact);
- times all candidates interleaved in one loop (batch 1, then batch N for throughput), so ratios
  between them are measured at one moment on a shared machine;
- (asked for by name, mode ``train``) times one training step of a classifier at batch N in the
  same loop: a deep copy of the unfused model in train mode, mmengine's ``train_step`` data flow
  with the config's own loss on random labels and AdamW (:func:`training_step`), with its peak
  memory (:func:`~mmmobile.benchmark.timing.peak_memory`).

Detector and segmentor configs are timed as whole models (``mode='tensor'``: backbone, neck and
heads) at the config's test size, unfused and fused, and end to end (image to detections or label
map): the fused model's ``predict`` in PyTorch beside the end-to-end ONNX graph of
:mod:`mmmobile.deploy.end2end` in ONNX Runtime (form ``end-to-end``). Their training step is a
row saying why it is not measured (:data:`DENSE_TRAIN_REASON`).
"""
import copy
import os
import os.path as osp
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ..deploy.export import onnx_session
from ..deploy.fuse import count_parameters
from ..deploy.wrappers import TensorMode
from ..layout import preferred_memory_format
from ..reparam import switch_to_deploy
from ..utils import ToolError, randomize_bn_statistics, relative_error
from .hardware import machine_info, matmul_peak_gflops
from .peers import find_peer, peer_note
from .timing import interleaved_latency, memory_method, peak_memory, summarize
from .zoo import Variant, config_input_size, find_variant, list_variants

#: Candidates of ours: eager unfused, eager fused (both layouts), the fused model traced with
#: TorchScript, exported to ONNX Runtime and compiled with ``torch.compile``, and one training
#: step of the unfused model (``train``).
MODES = ('unfused', 'fused', 'torchscript', 'onnxruntime', 'compiled', 'train')
#: What a run measures unless told otherwise: compiling takes far longer than the other
#: candidates (once per model and batch size), and a training step is not inference, so
#: ``compiled`` and ``train`` are asked for by name.
DEFAULT_MODES = ('unfused', 'fused', 'torchscript', 'onnxruntime')
#: The row name of the training step.
TRAIN_CANDIDATE = 'mmmobile unfused, train step'
#: The optimizer of the training step (the papers' recipes train with AdamW).
TRAIN_OPTIMIZER = 'AdamW (lr 1e-3, torch defaults otherwise) in an mmengine OptimWrapper'
#: What one training step contains (the train row's ``notes``).
TRAIN_STEP = ("mmengine's train_step on a random batch of N images and random labels: the "
              "config's data preprocessor (training=True: normalization, its batch augments), "
              "the classifier's own loss (ImageClassifier.loss: backbone, neck, head loss of the "
              'config; a DistillationClassifier without its teacher), backward, optimizer step, '
              'zero_grad; a deep copy of the unfused model in train mode (BatchNorm batch '
              'statistics, dropout and drop-path active), fp32, no EMA or gradient clipping')
#: Why detectors and segmentors have no training row.
DENSE_TRAIN_REASON = (
    "a detector's or segmentor's training step is its mode='loss' on per-image ground truth "
    '(boxes and masks, label maps: target assignment, sampling, auxiliary heads), which '
    "mode='tensor' on random images does not run; time tools/train.py on the config")
LAYOUT_NAMES = {torch.contiguous_format: 'NCHW', torch.channels_last: 'channels_last'}
ALL = 'all'


@dataclass
class Target:
    """One thing to measure.

    Args:
        name (str): Display name (variant name or config file stem).
        task (str): 'cls', 'det', 'seg' or 'backbone'.
        family (str): Backbone class name.
        arch (str | dict, optional): Arch key (or a config's arch dict), when known.
        input_size (tuple[int, int]): ``(H, W)``.
        build (callable): Returns the unfused model in eval mode (plain module).
        top1 (float, optional): Paper top-1 of a variant.
        config (str, optional): The config file measured.
        series (str, optional): Sub-family line of the latency/top-1 plot.
    """

    name: str
    task: str
    family: str
    arch: Union[str, Dict, None]
    input_size: Tuple[int, int]
    build: Callable[[], nn.Module]
    top1: Optional[float] = None
    config: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    series: Optional[str] = None


def model_complexity(model: nn.Module, inputs: torch.Tensor) -> Dict:
    """Parameters and MACs of ``model`` on ``inputs`` (mmengine's counter; 1 MAC = 1 "FLOP").

    Returns:
        dict: ``params`` and ``macs`` (None when the counter fails, with ``error``).
    """
    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger

    params = count_parameters(model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # one "Unsupported operator" line per op type is noise here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            info = get_model_complexity_info(model, inputs=(inputs, ), show_table=False,
                                             show_arch=False)
        return dict(params=params, macs=int(info['flops']))
    except Exception as error:  # noqa: BLE001 - counting is best effort for whole detectors
        return dict(params=params, macs=None, error=f'{type(error).__name__}: {error}')
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------------------
# targets

def _task_of(cfg) -> str:
    scope = cfg.get('default_scope', 'mmpretrain')
    return {'mmdet': 'det', 'mmseg': 'seg'}.get(scope, 'cls')


def _dense_input_size(cfg, task: str) -> Optional[Tuple[int, int]]:
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    if task == 'seg':
        size = preprocessor.get('size') or cfg.get('crop_size')
        return (int(size[0]), int(size[1])) if size else None
    size = config_input_size(cfg)  # detectors: Resize scale (w, h) with keep_ratio
    if size is None:
        return None
    divisor = int(preprocessor.get('pad_size_divisor', 1) or 1)
    return tuple(-(-s // divisor) * divisor for s in size)


def config_target(path: str, shape: Optional[Tuple[int, int]] = None,
                  name: Optional[str] = None) -> Target:
    """A target for an mmpretrain / mmdet / mmseg config file.

    Args:
        path (str): Config file.
        shape (tuple[int, int], optional): ``(H, W)``; default: the config's test size.
        name (str, optional): Display name; default: the file name without ``.py``.
    """
    from ..deploy import build_model
    from ..engine import load_config

    cfg = load_config(path)
    task = _task_of(cfg)
    if shape is None:
        shape = config_input_size(cfg) if task == 'cls' else _dense_input_size(cfg, task)
    if shape is None:
        raise ToolError(f'cannot tell the test input size of {path}; pass --shape H W')
    backbone = cfg.model.get('backbone', {})
    family = str(backbone.get('type', '?')).split('.')[-1]
    arch = backbone.get('arch')
    if isinstance(arch, dict):
        arch = arch.to_dict() if hasattr(arch, 'to_dict') else dict(arch)
    return Target(name or osp.splitext(osp.basename(path))[0], task, family,
                  arch if isinstance(arch, (str, dict)) else None, tuple(shape),
                  lambda: build_model(cfg), config=path)


def variant_target(variant: Variant, shape: Optional[Tuple[int, int]] = None) -> Target:
    """A target for a registered variant: its classification config, or the bare backbone."""
    shape = tuple(shape) if shape else (variant.resolution, variant.resolution)
    if variant.config is not None:
        target = config_target(variant.config, shape, name=variant.name)
        target.top1, target.family, target.arch = variant.top1, variant.family, variant.arch
        target.series = variant.series
        return target
    return Target(variant.name, 'backbone', variant.family, variant.arch, shape,
                  _backbone_builder(variant, shape), top1=variant.top1, series=variant.series,
                  notes=['no classification config found: bare backbone measured'])


def _backbone_builder(variant: Variant, shape: Tuple[int, int]) -> Callable[[], nn.Module]:
    from .zoo import backbone_classes

    cls = backbone_classes()[variant.family]

    def build() -> nn.Module:
        try:
            model = cls(arch=variant.arch, out_indices=(-1, ))
        except TypeError:
            model = cls(arch=variant.arch)
        return model.eval()

    return build


def resolve_targets(specs: Sequence[str], shape: Optional[Tuple[int, int]] = None,
                    config_root: Optional[str] = None) -> List[Target]:
    """Targets for command-line words: config files, variant names or ``all``.

    Raises:
        ToolError: A word that is neither an existing config file nor a known variant.
    """
    variants = None
    targets = []
    for spec in specs:
        if spec.endswith('.py') or osp.sep in spec:
            if not osp.isfile(spec):
                raise ToolError(f'config file not found: {spec}', exit_code=2)
            targets.append(config_target(spec, shape))
            continue
        variants = variants if variants is not None else list_variants(config_root)
        if spec.lower() == ALL:
            targets.extend(variant_target(v, shape) for v in variants)
            continue
        variant = find_variant(spec, variants)
        if variant is None:
            raise ToolError(f'unknown variant {spec!r}; choose from: '
                            f"{', '.join(v.name for v in variants)}, '{ALL}', or a config file",
                            exit_code=2)
        targets.append(variant_target(variant, shape))
    if not targets:
        raise ToolError('nothing to benchmark: give config files, variant names or all',
                        exit_code=2)
    return targets


# --------------------------------------------------------------------------------------------
# candidates

def _to_layout(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    return model.to(memory_format=memory_format)


def _make_input(batch: int, size: Tuple[int, int], device: str, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, *size, generator=generator).to(device)


def _traced(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')
        traced = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False, strict=False))
    return lambda: traced(x)


def _onnxruntime(model: nn.Module, x: torch.Tensor, threads: int, workdir: str,
                 tag: str) -> Callable[[], object]:
    path = osp.join(workdir, f'{tag}.onnx')
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x.cpu().contiguous(), ), path, dynamo=False, opset_version=17,
                          input_names=['input'])
    providers = ['CPUExecutionProvider']
    if x.device.type == 'cuda':
        import onnxruntime as ort
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            raise RuntimeError('onnxruntime has no CUDA execution provider here')
        providers.insert(0, 'CUDAExecutionProvider')
    session = onnx_session(path, threads=threads, providers=providers)
    feed = {'input': x.detach().cpu().contiguous().numpy()}

    def run():
        return [torch.from_numpy(o) for o in session.run(None, feed)]

    return run


def compile_model(model: nn.Module, x: torch.Tensor) -> Tuple[Callable[[], object], float]:
    """``torch.compile`` (inductor, ``freezing``) of an inference model, compiled on ``x`` now.

    Freezing folds the parameters into the graph as constants, which inductor only does without
    autograd, so the compiling call runs under ``torch.inference_mode()`` as the timing loop
    does (a different grad mode would recompile). Dynamo's caches are reset first: every target
    compiles the same ``TensorMode.forward`` and would soon reach the recompile limit.

    Args:
        model (nn.Module): The fused model in eval mode.
        x (Tensor): The input it will be called with.

    Returns:
        tuple: A zero-argument function calling the compiled model on ``x``, and the seconds
        the first call took (tracing, compiling and one run).

    Raises:
        Exception: Whatever compiling raises (e.g. no working C++ compiler for inductor).
    """
    torch.compiler.reset()
    compiled = torch.compile(model, backend='inductor', dynamic=False,
                             options={'freezing': True})
    start = time.perf_counter()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        compiled(x)
    return (lambda: compiled(x)), time.perf_counter() - start


def _error_text(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[0][:200] if lines else "(no message)"}'


def _candidates(target: Target, unfused: nn.Module, fused: nn.Module, peer: Optional[nn.Module],
                peer_package: Optional[str], batch: int, modes: Sequence[str], threads: int,
                device: str, workdir: str) -> Dict[str, Dict]:
    """Name -> dict(fn, impl, form, runtime, layout[, compile_s]) for one input batch; a
    candidate that cannot be built has ``fn=None`` and ``error`` (why)."""
    preferred = preferred_memory_format(fused)
    other = torch.channels_last if preferred == torch.contiguous_format else \
        torch.contiguous_format
    x = _make_input(batch, target.input_size, device)
    inputs = {fmt: x.contiguous(memory_format=fmt) for fmt in (preferred, other)}
    dense = target.task in ('det', 'seg')
    found = {}

    def add(name, impl, form, runtime, layout, make):
        found[name] = dict(impl=impl, form=form, runtime=runtime,
                           layout=LAYOUT_NAMES.get(layout, str(layout)))
        try:
            made = make()
        except Exception as error:  # noqa: BLE001 - reported in the results, not fatal
            found[name].update(fn=None, error=_error_text(error))
            return
        if isinstance(made, tuple):  # (fn, compile seconds)
            made, found[name]['compile_s'] = made
        found[name]['fn'] = made

    if 'unfused' in modes:
        model = _to_layout(unfused, preferred)
        add('mmmobile unfused', 'mmmobile', 'unfused', 'eager', preferred,
            lambda m=model, i=inputs[preferred]: (lambda: m(i)))
    if 'fused' in modes:
        layouts = (preferred, ) if dense else (preferred, other)
        for layout in layouts:
            model = _to_layout(copy.deepcopy(fused), layout)
            suffix = '' if layout == preferred else f', {LAYOUT_NAMES[layout]}'
            add(f'mmmobile fused{suffix}', 'mmmobile', 'fused', 'eager', layout,
                lambda m=model, i=inputs[layout]: (lambda: m(i)))
    if not dense and 'torchscript' in modes:
        add('mmmobile fused, TorchScript', 'mmmobile', 'fused', 'torchscript', preferred,
            lambda: _traced(_to_layout(copy.deepcopy(fused), preferred), inputs[preferred]))
    if not dense and 'onnxruntime' in modes:
        add('mmmobile fused, ONNX Runtime', 'mmmobile', 'fused', 'onnxruntime', None,
            lambda: _onnxruntime(copy.deepcopy(fused).to(memory_format=torch.contiguous_format),
                                 inputs[torch.contiguous_format], threads, workdir,
                                 f'{target.name}-b{batch}'))
    if not dense and 'compiled' in modes:
        add('mmmobile fused, compiled', 'mmmobile', 'fused', 'compiled', preferred,
            lambda: compile_model(_to_layout(copy.deepcopy(fused), preferred),
                                  inputs[preferred]))
    if dense and 'onnxruntime' in modes:
        from ..deploy.end2end import end2end_wrapper, predict_call
        raw = fused.model
        x_e2e = inputs[torch.contiguous_format]
        add('mmmobile fused, predict', 'mmmobile', 'end-to-end', 'eager', torch.contiguous_format,
            lambda: predict_call(raw, x_e2e))
        parts = 'detections' if unfused.task == 'detection' else 'labels'
        add('mmmobile fused, ONNX Runtime end to end', 'mmmobile', 'end-to-end', 'onnxruntime',
            None, lambda: _onnxruntime(end2end_wrapper(raw, unfused.task, parts), x_e2e,
                                       threads, workdir, f'{target.name}-e2e-b{batch}'))
    if peer is not None:
        for layout in (torch.contiguous_format, torch.channels_last):
            model = _to_layout(copy.deepcopy(peer), layout)
            add(f'{peer_package} fused, {LAYOUT_NAMES[layout]}', peer_package, 'fused', 'eager',
                layout, lambda m=model, i=inputs[layout]: (lambda: m(i)))
    return found


def _classifier_base() -> type:
    from mmpretrain.models.classifiers import ImageClassifier
    return ImageClassifier


def training_step(model: nn.Module, batch: int, input_size: Tuple[int, int], device: str,
                  memory_format: torch.memory_format = torch.contiguous_format,
                  seed: int = 0) -> Tuple[Callable[[], torch.Tensor], torch.optim.Optimizer]:
    """One training step of an mmpretrain classifier, as mmengine's ``BaseModel.train_step``.

    Per call (:data:`TRAIN_STEP`): fresh data samples with random labels, the model's data
    preprocessor with ``training=True`` on a fixed random uint8-range batch, the loss of
    ``ImageClassifier.loss`` (the head's configured loss; a ``DistillationClassifier``'s teacher
    term is left out: its weights are the user's), ``parse_losses`` and
    ``OptimWrapper.update_params`` (backward, AdamW step, zero_grad). Grad mode is switched on
    inside, so the step may be timed inside ``torch.inference_mode()``. The model is put in train
    mode and trained in place: pass a copy.

    Args:
        model (nn.Module): An mmpretrain ``ImageClassifier`` (trained in place).
        batch (int): Images per step.
        input_size (tuple[int, int]): ``(H, W)``.
        device (str): Where the model is.
        memory_format (torch.memory_format): Layout of the preprocessed batch (the model's
            preferred one). Defaults to NCHW.
        seed (int): Seed of the images and labels. Defaults to 0.

    Returns:
        tuple: A zero-argument call running one step and returning the loss (detached), and the
        optimizer (whose state holds AdamW's moments after the first step).

    Raises:
        TypeError: ``model`` is not an mmpretrain ``ImageClassifier``.
    """
    from mmengine.optim import OptimWrapper
    from mmpretrain.structures import DataSample

    base = _classifier_base()
    if not isinstance(model, base):
        raise TypeError(f'{type(model).__name__} is not an mmpretrain ImageClassifier')
    num_classes = getattr(model.head, 'num_classes', None) or getattr(
        model.data_preprocessor, 'num_classes', None)
    if not num_classes:
        raise TypeError(f'cannot tell the number of classes of {type(model.head).__name__}')
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(batch, 3, *input_size, generator=generator) * 255).to(device)
    labels = torch.randint(num_classes, (batch, ), generator=generator).tolist()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    wrapper = OptimWrapper(optimizer)
    model.train()

    def step() -> torch.Tensor:
        with torch.inference_mode(False), torch.enable_grad():
            data = dict(inputs=images,
                        data_samples=[DataSample(metainfo=dict(num_classes=num_classes))
                                      .set_gt_label(label) for label in labels])
            with wrapper.optim_context(model):
                data = model.data_preprocessor(data, True)
                inputs = data['inputs'].contiguous(memory_format=memory_format)
                losses = base.loss(model, inputs, data['data_samples'])
            loss, _ = model.parse_losses(losses)
            wrapper.update_params(loss)
        return loss.detach()

    return step, optimizer


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def _train_candidate(target: Target, raw: nn.Module, batch: int, device: str,
                     memory_format: torch.memory_format) -> Dict:
    """The training-step candidate of ``target`` (``fn=None`` with ``error`` where it has none),
    after one untimed step (which creates the optimizer state); ``model`` and ``optim`` (the
    optimizer) are kept for the memory measurement."""
    found = dict(impl='mmmobile', form='unfused', runtime='eager', step='train',
                 layout=LAYOUT_NAMES.get(memory_format, str(memory_format)), notes=TRAIN_STEP,
                 optimizer=TRAIN_OPTIMIZER)
    if target.task in ('det', 'seg'):
        return dict(found, fn=None, error=DENSE_TRAIN_REASON)
    if target.task == 'backbone':
        return dict(found, fn=None, error='a bare backbone has no classification head or loss')
    try:
        model = _to_layout(copy.deepcopy(raw), memory_format)
        fn, optimizer = training_step(model, batch, target.input_size, device, memory_format)
        first = fn()  # fails here rather than in the timing loop (e.g. BatchNorm1d at batch 1)
        if not torch.isfinite(first):
            raise FloatingPointError(f'the first training step has loss {first.item()}')
    except Exception as error:  # noqa: BLE001 - reported in the results, not fatal
        return dict(found, fn=None, error=_error_text(error))
    return dict(found, fn=fn, model=model, optim=optimizer, first_loss=float(first))


def _train_memory(cand: Dict, device: str) -> Dict:
    """Loss and peak memory of one more step of a timed training candidate (steady state: the
    optimizer state exists). Peak MB = the bytes the trained copy holds (weights, buffers,
    optimizer state) plus the most the step allocates on top (the batch as the model sees it,
    activations, gradients, temporaries)."""
    model, optimizer = cand['model'], cand['optim']
    losses = []
    step_peak = peak_memory(lambda: losses.append(cand['fn']()), device)
    state = [t for s in optimizer.state.values() for t in s.values()]
    held = _tensor_bytes(list(model.parameters()) + list(model.buffers()) + state)
    return dict(loss=float(losses[-1]), state_mb=held / 2**20,
                peak_mb=(held + step_peak) / 2**20,
                memory_method=memory_method(device))


def build_forms(target: Target, device: str = 'cpu') -> Tuple[nn.Module, nn.Module, nn.Module]:
    """The model of ``target`` with random BatchNorm statistics, unfused and fused.

    Args:
        target (Target): What to build.
        device (str): Device. Defaults to 'cpu'.

    Returns:
        tuple: The built model, the same model as a :class:`~mmmobile.deploy.TensorMode` call
        (the unfused candidate) and a fused copy of that, all in eval mode.
    """
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # toolbox deprecation notes while building
        raw = target.build()
    randomize_bn_statistics(raw)
    unfused = TensorMode(raw).to(device).eval()
    fused = switch_to_deploy(copy.deepcopy(unfused)).eval()
    return raw, unfused, fused


def _measure_target(target: Target, batch_size: int, modes: Sequence[str], peers: bool,
                    threads: int, warmup: int, repeats: int, device: str, peak: float,
                    progress: Optional[Callable[[], None]]) -> Dict:
    raw, unfused, fused = build_forms(target, device)
    x1 = _make_input(1, target.input_size, device)
    cost = model_complexity(copy.deepcopy(fused), x1)
    params_unfused = count_parameters(unfused)

    peer, peer_package, note, shares_weights = None, None, None, False
    if target.task == 'cls' and target.arch is not None:
        peer_package, build_peer, shares_weights, note = find_peer(target.family, target.arch)
        if build_peer is not None and peers:
            torch.manual_seed(0)
            peer = build_peer(raw.state_dict()) if shares_weights else build_peer()
            peer = peer.to(device).eval()
            if shares_weights:
                note += ', with our weights'
        elif build_peer is not None:
            note = 'peers not measured (--no-peers)'
    elif target.task == 'cls':
        note = peer_note(target.family)

    rows: Dict[str, Dict] = {}
    with tempfile.TemporaryDirectory(prefix='mmmobile-bench-') as workdir:
        for batch in ([1, batch_size] if batch_size > 1 else [1]):
            candidates = _candidates(target, unfused, fused, peer, peer_package, batch, modes,
                                     threads, device, workdir)
            if 'train' in modes and batch == batch_size:  # training: at batch N only
                candidates[TRAIN_CANDIDATE] = _train_candidate(
                    target, raw, batch, device, preferred_memory_format(fused))
            working = {n: c for n, c in candidates.items() if c['fn'] is not None}
            if batch == 1:  # ours, and a peer with our weights, compute the unfused output
                with torch.inference_mode():
                    reference = unfused(_make_input(1, target.input_size, device))
                    for name, cand in working.items():
                        if cand['form'] == 'end-to-end' or cand.get('step') == 'train':
                            continue  # other outputs than the reference
                        if cand['impl'] == 'mmmobile' or shares_weights:
                            cand['relative_error'] = relative_error(cand['fn'](), reference)
            times = interleaved_latency({n: c['fn'] for n, c in working.items()},
                                        warmup=warmup, repeats=repeats, threads=threads,
                                        device=device, progress=progress)
            for name, cand in candidates.items():
                fields = {k: v for k, v in cand.items()
                          if k not in ('fn', 'error', 'compile_s', 'model', 'optim')}
                row = rows.setdefault(name, fields)
                if cand.get('step') == 'train':
                    row['batch_size'] = batch
                    if name not in working:
                        row['error'] = cand['error']
                        continue
                    stats = summarize(times[name])
                    row.update(batch_median_ms=stats['median_ms'], batch_q1_ms=stats['q1_ms'],
                               batch_q3_ms=stats['q3_ms'],
                               throughput=batch * 1e3 / stats['median_ms'])
                    try:
                        row.update(_train_memory(cand, device))
                    except Exception as error:  # noqa: BLE001 - the timings stand
                        row['memory_error'] = _error_text(error)
                    continue
                if name not in working:
                    row['error' if batch == 1 else 'batch_error'] = cand['error']
                    continue
                stats = summarize(times[name])
                if batch == 1:
                    row.update(stats)
                    if 'compile_s' in cand:
                        row['compile_s'] = cand['compile_s']
                else:
                    row['batch_size'] = batch
                    row['throughput'] = batch * 1e3 / stats['median_ms']
                    row['batch_median_ms'] = stats['median_ms']
                    if 'compile_s' in cand:
                        row['batch_compile_s'] = cand['compile_s']

    macs = cost.get('macs')
    timed = {n: r for n, r in rows.items() if r.get('median_ms') is not None}
    for row in timed.values():
        if macs and row['form'] != 'end-to-end':  # (MACs of the tensor-mode model)
            achieved = 2 * macs / (row['median_ms'] / 1e3) / 1e9
            row['gflops'] = achieved
            row['peak_fraction'] = achieved / peak if peak else None
    ours = timed.get('mmmobile fused')
    peer_rows = [r for r in timed.values() if r['impl'] != 'mmmobile']
    summary = dict(
        name=target.name, task=target.task, family=target.family, arch=target.arch,
        config=target.config, input_size=list(target.input_size), top1=target.top1,
        series=target.series, params=params_unfused, params_fused=cost['params'], macs=macs,
        layout=ours['layout'] if ours else None,
        latency_ms=ours['median_ms'] if ours else None,
        throughput=ours.get('throughput') if ours else None,
        peak_fraction=ours.get('peak_fraction') if ours else None,
        peer=note, notes=list(target.notes))
    train = rows.get(TRAIN_CANDIDATE, {})
    if train.get('batch_median_ms') is not None:
        summary.update(train_step_ms=train['batch_median_ms'],
                       train_throughput=train['throughput'], train_peak_mb=train.get('peak_mb'))
    for key, name in (('predict_ms', 'mmmobile fused, predict'),
                      ('end_to_end_onnxruntime_ms', 'mmmobile fused, ONNX Runtime end to end')):
        if name in timed:
            summary[key] = timed[name]['median_ms']
    if cost.get('error'):
        summary['notes'].append(f"MACs not counted ({cost['error'][:120]})")
    if ours and peer_rows:
        best = min(peer_rows, key=lambda r: r['median_ms'])
        summary['peer_best_ms'] = best['median_ms']
        summary['peer_best_layout'] = best['layout']
        summary['ratio_to_peer'] = ours['median_ms'] / best['median_ms']
        for row in timed.values():
            row['ratio_to_peer'] = row['median_ms'] / best['median_ms']
    other = [r for n, r in timed.items() if n.startswith('mmmobile fused, ') and
             r['runtime'] == 'eager' and r['form'] != 'end-to-end']
    if ours and other and other[0]['median_ms'] < 0.95 * ours['median_ms']:
        summary['notes'].append(f"fused model measured faster in {other[0]['layout']} "
                                f"({other[0]['median_ms']:.1f} ms) than in its preferred "
                                f"{ours['layout']} ({ours['median_ms']:.1f} ms)")
    if target.task == 'det' and ours and (ours.get('relative_error') or 0) > 1e-4:
        summary['notes'].append(
            f"fused vs unfused outputs differ by {ours['relative_error']:.1e}: a two-stage "
            'detector keeps its top-k proposals, and float rounding reorders near-ties; the '
            'backbone + neck features are what tools/deploy.py verifies')
    for name, row in rows.items():
        if row.get('step') == 'train':
            if 'error' in row:
                summary['notes'].append(f"{name}: not measured ({row['error']})")
            if 'memory_error' in row:
                summary['notes'].append(f"{name}: peak memory not measured "
                                        f"({row['memory_error']})")
            continue
        for key, batch in (('error', 1), ('batch_error', batch_size)):
            if key in row:
                summary['notes'].append(f'{name}: not measured at batch {batch} ({row[key]})')
    return dict(summary=summary, rows=[dict(candidate=n, **r) for n, r in rows.items()])


def run_benchmark(specs: Sequence[str],
                  shape: Optional[Tuple[int, int]] = None,
                  batch_size: int = 8,
                  modes: Sequence[str] = DEFAULT_MODES,
                  peers: bool = True,
                  threads: Optional[int] = None,
                  warmup: int = 3,
                  repeats: int = 10,
                  device: Optional[str] = None,
                  peak_size: int = 2048,
                  config_root: Optional[str] = None,
                  progress: bool = True) -> Dict:
    """Measure configs and/or variants (see the module docstring).

    Args:
        specs (Sequence[str]): Config files, variant names (``repvit-m1.0``) or ``all``.
        shape (tuple[int, int], optional): ``(H, W)`` for every target; default: each target's
            native / test size.
        batch_size (int): Batch of the throughput run; 1 skips it. Defaults to 8.
        modes (Sequence[str]): Subset of :data:`MODES`. Defaults to :data:`DEFAULT_MODES`
            (all but ``compiled`` and ``train``).
        peers (bool): Time peer packages where installed. Defaults to True.
        threads (int, optional): Torch (and ONNX Runtime intra-op) threads. Defaults to the
            current torch setting.
        warmup (int): Untimed rounds. Defaults to 3.
        repeats (int): Timed rounds (candidates interleaved in each). Defaults to 10.
        device (str, optional): 'cpu' or 'cuda'; default CUDA when available.
        peak_size (int): Matrix side of the fp32 GEMM peak measurement. Defaults to 2048.
        config_root (str, optional): Where ``cls/<family>/`` configs are looked up.
        progress (bool): Show a progress bar on stderr. Defaults to True.

    Returns:
        dict: ``meta`` (machine, threads, GEMM peak, settings), ``targets`` (one summary per
        target) and ``rows`` (one per target and candidate: latency median / quartiles / min /
        max in ms, throughput, relative error, ratio to the best peer layout, FLOP/s fraction,
        ``compile_s`` / ``batch_compile_s`` for compiled models; a candidate that could not be
        built or compiled has ``error`` (or ``batch_error``) instead of timings). The training
        row (``step='train'``, mode ``train``) has ``batch_size``, ``batch_median_ms`` /
        ``batch_q1_ms`` / ``batch_q3_ms`` (ms per step), ``throughput`` (images/s), ``loss`` (of
        its last step; ``first_loss`` of the untimed first), ``peak_mb``, ``state_mb``,
        ``memory_method``, ``optimizer`` and ``notes``; ``meta['train']`` says what a step
        contains.

    Raises:
        ToolError: Bad settings, unknown variants or missing config files.
    """
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise ToolError(f'unknown mode(s) {unknown}; choose from {list(MODES)}', exit_code=2)
    if batch_size < 1 or repeats < 1 or warmup < 0 or (threads is not None and threads < 1):
        raise ToolError('batch size, repeats and threads must be positive, warmup >= 0',
                        exit_code=2)
    if shape is not None and min(shape) < 1:
        raise ToolError(f'invalid shape {tuple(shape)}', exit_code=2)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError('CUDA was requested but is not available', exit_code=2)
    threads = threads or torch.get_num_threads()
    targets = resolve_targets(specs, shape, config_root)

    started = time.time()
    peak = matmul_peak_gflops(peak_size, threads=threads, device=device)
    meta = dict(machine_info(device, threads), gemm_gflops=peak, gemm_size=peak_size,
                batch_size=batch_size, warmup=warmup, repeats=repeats, modes=list(modes),
                omp_wait_policy=os.environ.get('OMP_WAIT_POLICY'))
    if 'train' in modes:
        meta['train'] = dict(step=TRAIN_STEP, optimizer=TRAIN_OPTIMIZER,
                             memory=memory_method(device))
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        import sys
        rounds = (warmup + repeats) * (2 if batch_size > 1 else 1)
        bar = ProgressBar(rounds * len(targets), file=sys.stderr)
    summaries, rows = [], []
    for target in targets:
        result = _measure_target(target, batch_size, modes, peers, threads, warmup, repeats,
                                 device, peak, bar.update if bar else None)
        summaries.append(result['summary'])
        rows.extend(dict(target=target.name, **row) for row in result['rows'])
    if bar is not None:
        bar.file.write('\n')
    meta['seconds'] = time.time() - started
    meta['load_average_after'] = os.getloadavg()[0]
    return dict(meta=meta, targets=summaries, rows=rows)
