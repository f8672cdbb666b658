from .cmt import CMT
from .replknet import RepLKNet
from .repvit import RepViT

__all__ = ['CMT', 'RepLKNet', 'RepViT']
