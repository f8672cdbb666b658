# Copyright (c) mmmobile contributors. All rights reserved.
"""RepViT's classification head with the released distillation twin."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead

from mmmobile.registry import MODELS
from ..layers import BNLinear


@MODELS.register_module()
class RepViTClsHead(ClsHead):
    """BatchNorm1d + Linear classifier of RepViT, with the DeiT-style distillation twin.

    The official models are trained with hard distillation and released with two heads
    (``classifier`` and ``classifier_dist``). Here:

    - training computes the loss on both heads and averages it; without a teacher both heads learn
      the ground truth (DeiT's hard distillation with the teacher replaced by the labels);
    - evaluation returns the average of both heads' logits, as the official code;
    - :meth:`switch_to_deploy` folds both BatchNorms and averages the two Linears into one ``fc``,
      which is exact because the eval output is the mean of two affine maps.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Input feature channels.
        distillation (bool): Keep the distillation twin (needed to load official checkpoints).
            Defaults to True.
        deploy (bool): Build the fused single-Linear form directly. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None: the Linear weights
            get a truncated normal with std 0.02 and zero bias at construction, as official.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of mmpretrain's ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 distillation: bool = True,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.distillation = distillation
        self.deploy = deploy
        if deploy:
            self.fc = nn.Linear(in_channels, num_classes)
            return
        self.head = BNLinear(in_channels, num_classes)
        if distillation:
            self.head_dist = BNLinear(in_channels, num_classes)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Take the last (pooled) feature."""
        return feats[-1]

    def branch_logits(self, feats: Tuple[torch.Tensor]) -> List[torch.Tensor]:
        """Logits of every head (one in deploy form or without distillation)."""
        x = self.pre_logits(feats)
        if self.deploy:
            return [self.fc(x)]
        logits = [self.head(x)]
        if self.distillation:
            logits.append(self.head_dist(x))
        return logits

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Average of the heads' logits (the official eval output)."""
        logits = self.branch_logits(feats)
        return logits[0] if len(logits) == 1 else (logits[0] + logits[1]) / 2

    def loss(self, feats: Tuple[torch.Tensor], data_samples: Sequence, **kwargs) -> dict:
        """Mean of the classification losses of both heads."""
        losses = [self._get_loss(logits, data_samples, **kwargs)
                  for logits in self.branch_logits(feats)]
        if len(losses) == 1:
            return losses[0]
        merged = {}
        for key in losses[0]:
            merged[key] = sum(loss[key] for loss in losses) / len(losses)
        return merged

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the BatchNorms and average the heads into a single Linear ``fc``, in place."""
        if self.deploy:
            return
        pairs = [self.head.fused_weight_bias()]
        if self.distillation:
            pairs.append(self.head_dist.fused_weight_bias())
        weight = sum(w for w, _ in pairs) / len(pairs)
        bias = sum(b for _, b in pairs) / len(pairs)
        self.fc = nn.Linear(self.in_channels, self.num_classes, device=weight.device,
                            dtype=weight.dtype)
        self.fc.weight.copy_(weight)
        self.fc.bias.copy_(bias)
        del self.head
        if self.distillation:
            del self.head_dist
        self.deploy = True
