from .cmt_head import CMTClsHead
from .mobilevitv3_head import MobileViTv3ClsHead
from .repvit_head import RepViTClsHead
from .ssd_head import SSDLiteHead

__all__ = ['CMTClsHead', 'MobileViTv3ClsHead', 'RepViTClsHead', 'SSDLiteHead']
