# Copyright (c) mmmobile contributors. All rights reserved.
"""MobileViTv3's classifier: dropout + Linear on the pooled feature."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead

from mmmobile.registry import MODELS


@MODELS.register_module()
class MobileViTv3ClsHead(LinearClsHead):
    """Classifier of MobileViTv3 (Wadekar & Chaurasia, 2022), as the official CVNets one.

    Dropout, then the Linear ``fc`` on the globally pooled feature (use it after mmpretrain's
    ``GlobalAveragePooling`` neck). The official v1-based models (XXS, XS, S and L2) train with
    dropout 0.1, the v2-based ones (0.5, 0.75, 1.0) without. Nothing to fuse.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Pooled feature channels.
        dropout_rate (float): Dropout before the Linear. Defaults to 0.1.
        init_cfg (dict, optional): Initialization config. Defaults to the official init: the
            Linear weight trunc-normal with std 0.02, zero bias.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of mmpretrain's ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.1,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, init_cfg=init_cfg, **kwargs)
        self.dropout_rate = dropout_rate
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits of the last (pooled) feature in ``feats``."""
        return self.fc(self.dropout(self.pre_logits(feats)))
