from .cmt import CMT
from .mobilevitv3 import MobileViTv3
from .replknet import RepLKNet
from .repvit import RepViT

__all__ = ['CMT', 'MobileViTv3', 'RepLKNet', 'RepViT']
