# Copyright (c) mmmobile contributors. All rights reserved.
"""mmdet's SSD head, usable for prediction with mmdet 3.3.0."""
from mmmobile.registry import MODELS

try:
    from mmdet.models.dense_heads import SSDHead
except ImportError:  # mmdet is optional: the head is only needed for detection
    SSDHead = None


@MODELS.register_module()
class SSDLiteHead(SSDHead if SSDHead is not None else object):
    """mmdet's ``SSDHead`` (with ``use_depthwise=True``: the SSDLite head) that can predict.

    mmdet 3.3.0's ``SSDHead`` skips ``AnchorHead.__init__`` (it computes its softmax
    cross-entropy with hard negative mining inline), so it has no ``loss_cls``, but the shared
    ``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls`` and every predict raises
    ``AttributeError`` (open-mmlab/mmdetection#11305). Setting ``loss_cls`` to None restores the
    softmax scoring path; losses, layers and state-dict keys are mmdet's.

    Args:
        *args: Positional arguments of mmdet's ``SSDHead``.
        **kwargs: Keyword arguments of mmdet's ``SSDHead``.
    """

    def __init__(self, *args, **kwargs) -> None:
        if SSDHead is None:
            raise ImportError('SSDLiteHead needs mmdet: pip install "mmdet>=3.0,<3.4"')
        super().__init__(*args, **kwargs)
        self.loss_cls = None
