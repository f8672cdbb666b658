from .cmt_head import CMTClsHead
from .repvit_head import RepViTClsHead

__all__ = ['CMTClsHead', 'RepViTClsHead']
