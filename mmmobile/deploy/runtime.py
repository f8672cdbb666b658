"""Evaluate an exported ONNX model with the toolbox's own test loop and metrics (onnxruntime).

:class:`ONNXRuntimeModel` stands in for the PyTorch model in mmengine's test loop, as mmdeploy's
backend models did: its ``test_step`` runs the config's data preprocessor, feeds the batch to an
onnxruntime session and returns the toolbox's data samples (``DetDataSample`` with
``pred_instances``, ``SegDataSample`` with ``pred_sem_seg``, mmpretrain's ``DataSample`` with
``pred_score``/``pred_label``), so ``CocoMetric``, ``IoUMetric`` and ``Accuracy`` score the
exported model exactly as they score the PyTorch one. ``tools/test.py CONFIG DIR/model.onnx``
runs it (:func:`use_onnxruntime` rewrites the test config).

Graphs with a static batch are fed in chunks of that batch; graphs with a static height and
width are fed at their export size: a smaller (preprocessed) input is padded at the bottom and
right with zeros (what the data preprocessors pad with), a larger one resized to fit, keeping
its aspect ratio, then padded; the predictions are mapped back. The test log says so.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel

from ..registry import MODELS

#: The data preprocessor each toolbox's models use when a config names none.
_DEFAULT_PREPROCESSORS = {'detection': 'mmdet.DetDataPreprocessor',
                          'segmentation': 'mmseg.SegDataPreProcessor',
                          'classification': 'mmpretrain.ClsDataPreprocessor'}
_SCOPE_TASKS = {'mmdet': 'detection', 'mmseg': 'segmentation', 'mmpretrain': 'classification'}


def _static(dim) -> Optional[int]:
    return dim if isinstance(dim, int) else None


@MODELS.register_module()
class ONNXRuntimeModel(BaseModel):
    """An exported ONNX model as an mmengine model that predicts the toolbox's data samples.

    Args:
        onnx_file (str): The exported graph (``tools/deploy.py``: ``model.onnx``).
        task (str): ``'detection'``, ``'segmentation'`` or ``'classification'``.
        data_preprocessor (dict): The config's data preprocessor.
        mask_thr_binary (float): Instance-mask threshold (``test_cfg.rcnn.mask_thr_binary``).
            Defaults to 0.5.
        align_corners (bool): The decode head's ``align_corners`` (segmentation logits are
            resized to the original image as mmseg does). Defaults to False.
        seg_threshold (float): Threshold of one-channel segmentation heads. Defaults to 0.3.
        seg_test_cfg (dict, optional): The segmentor's ``test_cfg`` (``mode='slide'`` runs
            mmseg's sliding-window inference on the graph). Defaults to None.
        num_classes (int, optional): Segmentation classes (to evaluate label-map graphs).
            Defaults to None.
        threads (int, optional): onnxruntime intra-op threads. Defaults to its choice.
        init_cfg (dict, optional): Unused (no weights). Defaults to None.
    """

    def __init__(self,
                 onnx_file: str,
                 task: str,
                 data_preprocessor: Optional[dict] = None,
                 mask_thr_binary: float = 0.5,
                 align_corners: bool = False,
                 seg_threshold: float = 0.3,
                 seg_test_cfg: Optional[dict] = None,
                 num_classes: Optional[int] = None,
                 threads: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from .export import onnx_session
        self.onnx_file = onnx_file
        self.task = task
        self.session = onnx_session(onnx_file, threads=threads)
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        shape = list(graph_input.shape)
        self.static_batch = _static(shape[0])
        height, width = _static(shape[2]), _static(shape[3])
        self.static_size = (height, width) if height is not None and width is not None else None
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.mask_thr_binary = mask_thr_binary
        # mmseg's postprocess_result and slide_inference read these attributes.
        self.align_corners = align_corners
        self.decode_head = _ThresholdOnly(seg_threshold)
        self.test_cfg = seg_test_cfg or {}
        self.num_classes = num_classes
        self.out_channels = num_classes
        print_log(f'onnxruntime: {onnx_file} ({self.feeding_note()})', logger='current')

    def feeding_note(self) -> str:
        """How inputs reach the graph (logged before the test loop)."""
        notes = []
        if self.static_batch is not None:
            notes.append(f'static batch {self.static_batch}: fed in chunks of that size')
        if self.static_size is not None:
            notes.append(f'static input {self.static_size[0]}x{self.static_size[1]}: each '
                         'batch is padded (or resized to fit, keeping the aspect ratio) to '
                         'the export size and the predictions mapped back')
        return '; '.join(notes) or 'dynamic batch and input size: fed as preprocessed'

    # ---------------------------------------------------------------------------------------
    # running the graph
    # ---------------------------------------------------------------------------------------
    def _fit(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, float]:
        """The batch at the graph's static size, and the resize factor applied."""
        if self.static_size is None or tuple(inputs.shape[2:]) == self.static_size:
            return inputs, 1.0
        height, width = inputs.shape[2:]
        target_h, target_w = self.static_size
        factor = min(1.0, target_h / height, target_w / width)
        if factor < 1.0:
            size = (max(1, int(round(height * factor))), max(1, int(round(width * factor))))
            inputs = F.interpolate(inputs, size=size, mode='bilinear', align_corners=False)
        padding = (0, target_w - inputs.shape[3], 0, target_h - inputs.shape[2])
        return F.pad(inputs, padding), factor

    def run(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run the graph on a batch (chunked to a static batch size), outputs by name."""
        chunk = self.static_batch or inputs.shape[0]
        outputs: Dict[str, List[torch.Tensor]] = {name: [] for name in self.output_names}
        for start in range(0, inputs.shape[0], chunk):
            part = inputs[start:start + chunk]
            count = part.shape[0]
            if count < chunk:
                part = torch.cat([part, part.new_zeros(chunk - count, *part.shape[1:])])
            results = self.session.run(None, {self.input_name: part.contiguous().numpy()})
            for name, value in zip(self.output_names, results):
                outputs[name].append(torch.from_numpy(value)[:count])
        return {name: torch.cat(values) for name, values in outputs.items()}

    # ---------------------------------------------------------------------------------------
    # mmengine model interface
    # ---------------------------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'predict'):
        """``mode='predict'``: the toolbox's data samples (the only mode a graph has)."""
        if mode != 'predict':
            raise RuntimeError(f'an exported ONNX model only predicts (mode={mode!r})')
        if self.task == 'detection':
            return self._predict_detection(inputs, data_samples)
        if self.task == 'segmentation':
            return self._predict_segmentation(inputs, data_samples)
        return self._predict_classification(inputs, data_samples)

    def _predict_detection(self, inputs: torch.Tensor, data_samples: list) -> list:
        from mmengine.structures import InstanceData

        from .end2end import paste_roi_masks
        fitted, factor = self._fit(inputs)
        outputs = self.run(fitted)
        masks = outputs.get('masks')
        for i, sample in enumerate(data_samples):
            keep = outputs['labels'][i] >= 0
            dets = outputs['dets'][i][keep].float()
            scale = torch.tensor(sample.metainfo.get('scale_factor', (1.0, 1.0))).repeat(2)
            results = InstanceData()
            results.bboxes = dets[:, :4] / factor / scale
            results.scores = dets[:, 4]
            results.labels = outputs['labels'][i][keep].long()
            if masks is not None:
                height, width = sample.metainfo['ori_shape'][:2]
                instance_masks = masks[i][keep]
                if instance_masks.dtype == torch.bool:  # pasted into the graph's input
                    results.masks = self._unfit_pasted(instance_masks, sample, factor)
                else:
                    results.masks = paste_roi_masks(instance_masks.float(), results.bboxes,
                                                    height, width, self.mask_thr_binary)
            sample.pred_instances = results
        return data_samples

    def _unfit_pasted(self, masks: torch.Tensor, sample, factor: float) -> torch.Tensor:
        """Masks pasted at the graph's input, cropped to the image and resized to its original
        size (an approximation of pasting there: the app-side paste is exact)."""
        img_h, img_w = sample.metainfo['img_shape'][:2]
        height, width = sample.metainfo['ori_shape'][:2]
        crop_h, crop_w = int(round(img_h * factor)), int(round(img_w * factor))
        cropped = masks[:, :crop_h, :crop_w].float()
        if cropped.shape[0] == 0:
            return masks.new_zeros(0, height, width)
        resized = F.interpolate(cropped[None], size=(height, width), mode='bilinear',
                                align_corners=False)[0]
        return resized >= 0.5

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list) -> torch.Tensor:
        """Segmentation logits at the input size (mmseg's ``EncoderDecoder`` interface)."""
        height, width = inputs.shape[2:]
        fitted, factor = self._fit(inputs)
        outputs = self.run(fitted)
        if 'logits' in outputs:
            logits = outputs['logits'].float()
        else:  # a label-map graph: one-hot, resized like logits (nearest is exact for labels)
            labels = outputs['labels'].long()
            classes = self.num_classes or int(labels.max()) + 1
            logits = F.one_hot(labels.clamp(0, classes - 1), classes).permute(0, 3, 1, 2).float()
        crop_h, crop_w = int(round(height * factor)), int(round(width * factor))
        logits = logits[..., :crop_h, :crop_w]
        if logits.shape[2:] != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode='bilinear',
                                   align_corners=self.align_corners)
        self.out_channels = logits.shape[1]
        return logits

    def _predict_segmentation(self, inputs: torch.Tensor, data_samples: list) -> list:
        from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
        metas = [sample.metainfo for sample in data_samples]
        if self.test_cfg.get('mode', 'whole') == 'slide':
            logits = EncoderDecoder.slide_inference(self, inputs, metas)
        else:
            logits = self.encode_decode(inputs, metas)
        # mmseg's own crop of the padding, resize to the original size and argmax.
        return BaseSegmentor.postprocess_result(self, logits, data_samples)

    def _predict_classification(self, inputs: torch.Tensor, data_samples: list) -> list:
        from mmpretrain.structures import DataSample
        if self.static_size is not None and tuple(inputs.shape[2:]) != self.static_size:
            inputs = F.interpolate(inputs, size=self.static_size, mode='bilinear',
                                   align_corners=False)
        outputs = self.run(inputs)
        scores = F.softmax(outputs[self.output_names[0]].float(), dim=1)
        labels = scores.argmax(dim=1, keepdim=True)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.shape[0])]
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(score).set_pred_label(label)
        return data_samples


class _ThresholdOnly:
    """The one attribute of a decode head that mmseg's ``postprocess_result`` reads."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold


def _report(onnx_file: str) -> Dict:
    """The deploy report written beside ``onnx_file`` (empty when there is none)."""
    path = osp.join(osp.dirname(osp.abspath(onnx_file)), 'report.json')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _output_problem(onnx_file: str, task: str, with_masks: bool = False) -> Optional[str]:
    """Why the graph's outputs cannot be scored as ``task`` predictions (None: they can)."""
    import onnx
    try:
        graph = onnx.load(onnx_file, load_external_data=False).graph
    except Exception as error:  # noqa: BLE001 - any unreadable file is one message
        return f'not a readable ONNX model ({type(error).__name__})'
    names = [output.name for output in graph.output]
    if task == 'detection' and not {'dets', 'labels'} <= set(names):
        return (f'outputs {names} are not detections (export the detector with tools/deploy.py '
                '--parts detections, the default)')
    if task == 'detection' and with_masks and 'masks' not in names:
        return f'the config has a mask head, the graph no masks output (outputs {names})'
    if task == 'segmentation' and not {'logits', 'labels'} & set(names):
        return f'outputs {names} hold no segmentation logits or label map'
    return None


def runtime_model_config(cfg, onnx_file: str, threads: Optional[int] = None) -> Dict:
    """The model config that evaluates ``onnx_file`` in place of ``cfg.model``.

    Args:
        cfg (Config): The model's (training or deploy) config: its data preprocessor, test
            settings and task.
        onnx_file (str): The exported graph.
        threads (int, optional): onnxruntime intra-op threads.

    Returns:
        dict: A ``type='mmmobile.ONNXRuntimeModel'`` config.
    """
    report = _report(onnx_file)
    task = report.get('task') or _SCOPE_TASKS.get(cfg.get('default_scope'), 'classification')
    preprocessor = dict(cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {})
    preprocessor.setdefault('type', _DEFAULT_PREPROCESSORS[task])
    model = dict(type='mmmobile.ONNXRuntimeModel', onnx_file=onnx_file, task=task,
                 data_preprocessor=preprocessor, threads=threads)
    test_cfg = cfg.model.get('test_cfg') or {}
    if task == 'detection':
        rcnn = test_cfg.get('rcnn') or {}
        model['mask_thr_binary'] = float(rcnn.get('mask_thr_binary', 0.5))
    elif task == 'segmentation':
        head = cfg.model.get('decode_head') or {}
        model.update(align_corners=bool(head.get('align_corners', False)),
                     seg_threshold=float(head.get('threshold') or 0.3),
                     seg_test_cfg=dict(test_cfg), num_classes=head.get('num_classes'))
    return model


def use_onnxruntime(cfg, onnx_file: str, threads: Optional[int] = None):
    """Rewrite a prepared test config to evaluate ``onnx_file`` through onnxruntime (in place).

    ``cfg.model`` becomes an :class:`ONNXRuntimeModel` with the config's data preprocessor and
    nothing is loaded into it (``load_from`` is cleared): the test loop, the dataloader and the
    evaluator stay the config's own.

    Args:
        cfg (Config): A config prepared by ``prepare_test_config``.
        onnx_file (str): The exported graph.
        threads (int, optional): onnxruntime intra-op threads.

    Returns:
        Config: ``cfg``.
    """
    from ..utils import ToolError
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise ToolError('evaluating an ONNX model needs onnxruntime: pip install onnxruntime') \
            from error
    model = runtime_model_config(cfg, onnx_file, threads)
    with_masks = bool((cfg.model.get('roi_head') or {}).get('mask_head'))
    problem = _output_problem(onnx_file, model['task'], with_masks)
    if problem:
        raise ToolError(f'{onnx_file}: {problem}')
    cfg.model = model
    cfg.load_from = None
    cfg.pop('model_wrapper_cfg', None)
    return cfg


_TIMING_KEYS = ('data_time', 'time')


def latest_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest ``tools/test.py`` run in ``work_dir`` (mmengine's
    ``<timestamp>/<timestamp>.json``), timings left out.

    Raises:
        ToolError: ``work_dir`` holds no finished test run.
    """
    from ..engine import ToolError
    runs = sorted(name for name in (os.listdir(work_dir) if osp.isdir(work_dir) else [])
                  if osp.isfile(osp.join(work_dir, name, f'{name}.json')))
    if not runs:
        raise ToolError(f'no finished test run in {work_dir} (no <timestamp>/<timestamp>.json)')
    with open(osp.join(work_dir, runs[-1], f'{runs[-1]}.json')) as f:
        metrics = json.loads(f.readline())
    return {key: value for key, value in metrics.items() if key not in _TIMING_KEYS}


def metrics_table(runs: Dict[str, Dict[str, float]]) -> List[str]:
    """Lines of a table with one column per run and, for two runs, their difference."""
    names = list(runs)
    keys = list(dict.fromkeys(key for metrics in runs.values() for key in metrics))
    header = ['metric', *names] + (['difference'] if len(names) == 2 else [])
    rows = [header]
    for key in keys:
        values = [runs[name].get(key) for name in names]
        row = [key] + ['-' if v is None else f'{v:.4f}' for v in values]
        if len(names) == 2:
            row.append('-' if None in values else f'{values[1] - values[0]:+.4f}')
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]


__all__: Sequence[str] = ['ONNXRuntimeModel', 'latest_test_metrics', 'metrics_table',
                          'runtime_model_config', 'use_onnxruntime']
