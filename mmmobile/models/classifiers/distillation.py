# Copyright (c) mmmobile contributors. All rights reserved.
"""DeiT-style knowledge distillation for any mmpretrain image classifier.

mmpretrain builds distilled students (``DeiTClsHead``) but refuses to train them. Here the student
is an ordinary ``ImageClassifier`` (backbone, neck, head) and the teacher is any mmpretrain model
config plus a checkpoint, ``TimmClassifier`` included. The loss follows ``DistillationLoss`` of
DeiT (Touvron et al., "Training data-efficient image transformers & distillation through
attention", ICML 2021; facebookresearch/deit ``losses.py``), which RepViT's official trainer uses
unchanged (THU-MIG/RepViT ``losses.py``, ``engine.py``).
"""
import copy
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from mmmobile.registry import MODELS
from mmmobile.utils import ToolError

try:
    from mmpretrain.models.classifiers import ImageClassifier
    from mmpretrain.models.heads import DeiTClsHead
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
except ImportError:  # mmpretrain is optional: only classification needs it
    ImageClassifier = DeiTClsHead = PRETRAIN_MODELS = None

#: The ``distill_mode`` values (DeiT's ``--distillation-type``).
DISTILL_MODES = ('hard', 'soft', 'none')


class _TeacherSlot:
    """Holds the teacher outside the student's module tree.

    Not being an ``nn.Module`` attribute, the teacher is absent from the student's
    ``state_dict()`` (so from every saved checkpoint), ``parameters()`` (so from the optimizer,
    gradient clipping and DDP), ``children()`` (so from ``switch_to_deploy`` and exports) and from
    EMA averages. A deep copy of the student (mmengine's ``EMAHook`` makes one) gets an empty slot
    instead of a second teacher; that copy builds its own only if it is ever trained.
    """

    def __init__(self) -> None:
        self.module: Optional[nn.Module] = None

    def __deepcopy__(self, memo: dict) -> '_TeacherSlot':
        return _TeacherSlot()


@MODELS.register_module()
class DistillationClassifier(ImageClassifier if ImageClassifier is not None else nn.Module):
    """An mmpretrain ``ImageClassifier`` trained by distillation from a frozen teacher (DeiT).

    Training loss, with ``s`` the class-branch logits, ``d`` the distillation-branch logits (the
    same head as ``s`` for a single-head model) and ``t`` the teacher's logits on the very batch
    the student sees (after the data preprocessor's mixup / cutmix, as DeiT)::

        loss = (1 - alpha) * head_loss(s, labels) + alpha * kd(d, t)
        hard: kd = cross_entropy(d, argmax(t))
        soft: kd = tau^2 * KL(softmax(t / tau) || softmax(d / tau)) summed / d.numel()
        none: no teacher; kd = head_loss(d, labels) for a twin head (both branches learn the
              labels), loss = head_loss(s, labels) for a single head

    ``head_loss`` is the head's own loss (for example label smoothing on the mixed soft targets).
    The soft term divides by the number of logits, exactly as DeiT's ``DistillationLoss``.

    Heads with a distillation twin: any head with ``branch_logits(feats)`` returning
    ``[class_logits, dist_logits]`` (:class:`~mmmobile.models.heads.RepViTClsHead`) and
    mmpretrain's ``DeiTClsHead``. Prediction and ``mode='tensor'`` are the student's (RepViT and
    DeiT heads average their two branches at test time, as officially).

    The teacher is built by :meth:`get_teacher` on first use (``init_weights()``, which mmengine's
    runner calls on every rank before training, or the first loss), in eval mode, without
    gradients, on the student's device; it follows ``.to()`` / ``.cuda()`` of the student. Testing,
    fusing and exporting never build it, and it is never part of the student's ``state_dict()``.
    It receives the student's preprocessed batch, so it must expect the same normalization.

    Args:
        backbone (dict): Student backbone config (see ``ImageClassifier``).
        neck (dict, optional): Student neck config.
        head (dict, optional): Student head config.
        teacher (dict | str, optional): The teacher: an mmpretrain model config (any classifier,
            e.g. ``dict(type='TimmClassifier', model_name='regnety_160')``) or the path of a config
            file whose ``model`` is used (``mmpretrain::`` paths work). None: no teacher, only
            with ``distill_mode='none'``.
        teacher_ckpt (str, optional): The teacher's weights, loaded strictly with
            ``torch.load(weights_only=True)``: an mmengine/mmpretrain checkpoint (``state_dict``),
            a DeiT/timm trainer file (``model``, e.g. DeiT's ``regnety_160-a5fe301d.pth``) or a
            bare state dict. None: the teacher config's own ``init_cfg`` must provide them.
        distill_mode (str): ``'hard'``, ``'soft'`` or ``'none'``. Defaults to ``'hard'``.
        alpha (float): Weight of the distillation term, in [0, 1]. Defaults to 0.5 (DeiT, RepViT).
        tau (float): Temperature of the soft mode. Defaults to 1.0 (DeiT, RepViT).
        **kwargs: ``pretrained``, ``train_cfg``, ``data_preprocessor``, ``init_cfg`` of
            ``ImageClassifier``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 teacher: Union[dict, str, None] = None,
                 teacher_ckpt: Optional[str] = None,
                 distill_mode: str = 'hard',
                 alpha: float = 0.5,
                 tau: float = 1.0,
                 **kwargs) -> None:
        if ImageClassifier is None:
            raise ImportError('DistillationClassifier needs mmpretrain: '
                              'pip install "mmpretrain>=1.0,<1.3"')
        if distill_mode not in DISTILL_MODES:
            raise ValueError(f'distill_mode must be one of {DISTILL_MODES}, got {distill_mode!r}')
        if distill_mode != 'none' and teacher is None:
            raise ValueError(f'distill_mode={distill_mode!r} needs a teacher config')
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must lie in [0, 1], got {alpha}')
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        # mmpretrain builds heads, losses and preprocessors by bare name: resolve them in its
        # scope even while a detector's or segmentor's default scope is active.
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            super().__init__(backbone, neck=neck, head=head, **kwargs)
        self.distill_mode = distill_mode
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.teacher_cfg = copy.deepcopy(teacher) if distill_mode != 'none' else None
        self.teacher_ckpt = teacher_ckpt if distill_mode != 'none' else None
        self._teacher = _TeacherSlot()

    # ----------------------------------------------------------------------------- the teacher
    def get_teacher(self) -> Optional[nn.Module]:
        """The frozen teacher, built and loaded on the first call; None in ``'none'`` mode.

        A method, not a property: module walkers (TorchScript, exporters) read every attribute
        of a model and must not build the teacher.
        """
        if self.teacher_cfg is not None and self._teacher.module is None:
            self._teacher.module = self._build_teacher()
        return self._teacher.module

    def _teacher_model_cfg(self) -> dict:
        if isinstance(self.teacher_cfg, str):
            from mmengine.config import Config
            from mmengine.hub import get_config

            path = self.teacher_cfg
            if '::' in path:  # a config of an installed toolbox, e.g. 'mmpretrain::resnet/...'
                return copy.deepcopy(get_config(path).model)
            if not osp.isfile(path):
                raise ToolError(f'teacher config not found: {path}')
            return copy.deepcopy(Config.fromfile(path).model)
        return copy.deepcopy(self.teacher_cfg)

    def _build_teacher(self) -> nn.Module:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            teacher = PRETRAIN_MODELS.build(self._teacher_model_cfg())
        if self.teacher_ckpt is not None:
            teacher.load_state_dict(self._teacher_state_dict(self.teacher_ckpt), strict=True)
        else:
            if not getattr(teacher, 'init_cfg', None):
                raise ToolError('the teacher has no weights: set model.teacher_ckpt or give the '
                                "teacher config an init_cfg=dict(type='Pretrained', ...)")
            teacher.init_weights()
        teacher.eval()
        teacher.requires_grad_(False)
        reference = next(self.parameters(), None)
        if reference is not None:
            teacher.to(reference.device)
        return teacher

    @staticmethod
    def _teacher_state_dict(filename: str) -> Dict[str, torch.Tensor]:
        """Read a teacher checkpoint (weights only) and return its state dict."""
        from mmmobile.engine.checkpoint import load_checkpoint_file

        if '://' not in filename and not osp.isfile(filename):
            raise ToolError(
                f'teacher checkpoint not found: {filename} (set model.teacher_ckpt, or train the '
                'no-teacher twin config; see README "Training as the papers did")')
        checkpoint = load_checkpoint_file(filename, map_location='cpu')
        for key in ('state_dict', 'model'):
            if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
                return checkpoint[key]
        if isinstance(checkpoint, dict) and all(
                isinstance(value, torch.Tensor) for value in checkpoint.values()):
            return checkpoint
        raise ToolError(f'teacher checkpoint {filename} holds no state dict '
                        "(expected a 'state_dict' or 'model' entry)")

    def init_weights(self) -> None:
        """Initialize the student (``ImageClassifier``), then build and load the teacher."""
        super().init_weights()
        teacher = self.get_teacher()
        if teacher is not None:
            print_log(f'DistillationClassifier: teacher {type(teacher).__name__} loaded from '
                      f'{self.teacher_ckpt or "its init_cfg"} ({self.distill_mode} distillation, '
                      f'alpha {self.alpha}, tau {self.tau})', logger='current')

    def _apply(self, fn, *args, **kwargs):
        # .to() / .cuda() / .half() of the student move the teacher too.
        super()._apply(fn, *args, **kwargs)
        if self._teacher.module is not None:
            self._teacher.module._apply(fn, *args, **kwargs)
        return self

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The teacher's logits on a (preprocessed, possibly mixed) batch."""
        logits = self.get_teacher()(inputs, mode='tensor')
        if not isinstance(logits, torch.Tensor):
            raise TypeError('the teacher must return one logits tensor in mode="tensor", got '
                            f'{type(logits).__name__}')
        return logits.float()

    # ------------------------------------------------------------------------------- the loss
    def branch_logits(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """``[class_logits, dist_logits]`` for a twin head, ``[logits]`` for a single head."""
        if hasattr(self.head, 'branch_logits'):
            return list(self.head.branch_logits(feats))
        if DeiTClsHead is not None and isinstance(self.head, DeiTClsHead):
            cls_token, dist_token = self.head.pre_logits(feats)
            return [self.head.layers.head(cls_token), self.head.layers.head_dist(dist_token)]
        return [self.head(feats)]

    def distillation_loss(self, dist_logits: torch.Tensor,
                          teacher_logits: torch.Tensor) -> torch.Tensor:
        """DeiT's hard or soft distillation term."""
        if self.distill_mode == 'hard':
            return F.cross_entropy(dist_logits, teacher_logits.argmax(dim=1))
        tau = self.tau
        return F.kl_div(
            F.log_softmax(dist_logits / tau, dim=1),
            F.log_softmax(teacher_logits / tau, dim=1),
            reduction='sum',
            log_target=True) * (tau * tau) / dist_logits.numel()

    def loss(self, inputs: torch.Tensor, data_samples: List[Any]) -> Dict[str, torch.Tensor]:
        """Class loss on the labels plus the distillation loss on the teacher's outputs.

        Args:
            inputs (torch.Tensor): The batch after the data preprocessor (mixup / cutmix applied).
            data_samples (list[DataSample]): Labels (``gt_score`` after mixup / cutmix).

        Returns:
            dict[str, Tensor]: ``loss_cls`` and, unless a single head trains without a teacher,
            ``loss_distill`` (already weighted by ``1 - alpha`` and ``alpha``).
        """
        logits = self.branch_logits(self.extract_feat(inputs))
        class_loss = self.head._get_loss(logits[0], data_samples)['loss']
        if self.distill_mode == 'none':
            if len(logits) == 1:
                return dict(loss_cls=class_loss)
            kd = self.head._get_loss(logits[-1], data_samples)['loss']
        else:
            kd = self.distillation_loss(logits[-1], self.teacher_logits(inputs))
        return dict(loss_cls=(1 - self.alpha) * class_loss, loss_distill=self.alpha * kd)
