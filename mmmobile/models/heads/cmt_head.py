# Copyright (c) mmmobile contributors. All rights reserved.
"""CMT's classification head: 1x1 conv + BN + Swish before pooling, then dropout + Linear."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import ClsHead

from mmmobile.registry import MODELS
from ..layers import ConvBN


@MODELS.register_module()
class CMTClsHead(ClsHead):
    """Classifier of CMT (Guo et al., CVPR 2022), as in the official code.

    On the last backbone map: ``proj`` = 1x1 conv (bias) to ``mid_channels`` + BatchNorm (the
    official ``_fc`` / ``_bn``), Swish (SiLU), global average pooling, dropout, then the Linear
    ``fc`` (official ``head``). Unlike most heads the 1x1 conv runs at full stride-32 resolution
    before pooling. Use it without a neck (``neck=None`` in ``ImageClassifier``).

    :meth:`switch_to_deploy` folds the BatchNorm into the 1x1 conv (exact); ``deploy=True`` builds
    that form directly.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the last backbone stage.
        mid_channels (int): Channels of the 1x1 conv before pooling. Defaults to 1280.
        dropout_rate (float): Dropout before the Linear (official: 0.1, 0.3 for CMT-B).
            Defaults to 0.1.
        deploy (bool): Build the fused form directly. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None: the official init is
            applied at construction (conv Kaiming-normal fan-out, Linear trunc-normal std 0.02,
            zero biases, BN 1/0).
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of mmpretrain's ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: int = 1280,
                 dropout_rate: float = 0.1,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.deploy = deploy
        self.proj = ConvBN(in_channels, mid_channels, 1, bias=True, deploy=deploy)
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(mid_channels, num_classes)

        nn.init.kaiming_normal_(self.proj.conv.weight, mode='fan_out')
        nn.init.zeros_(self.proj.conv.bias)
        trunc_normal_(self.fc.weight, std=.02)
        nn.init.zeros_(self.fc.bias)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """1x1 conv + BN + Swish on the last map, then global average pooling."""
        return self.act(self.proj(feats[-1])).mean((2, 3))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits of the last map in ``feats``."""
        return self.fc(self.dropout(self.pre_logits(feats)))

    def switch_to_deploy(self) -> None:
        """Fold the BatchNorm into the 1x1 conv, in place."""
        self.proj.switch_to_deploy()
        self.deploy = True
