"""Datasets of mmmobile: deterministic synthetic demo data in the COCO, ADE20K and ImageNet
layouts (see :mod:`mmmobile.datasets.demo_data`)."""
from .demo_data import (CLASSES, DEFAULT_SIZES, MANIFEST_NAME, SEG_CLASSES,
                        SEG_CLASSES_WITH_BACKGROUND, SEG_PALETTE, TASK_DIRS, TASKS, make_ade_demo,
                        make_coco_demo, make_demo_data, make_imagenet_demo)

__all__ = [
    'CLASSES', 'SEG_CLASSES', 'SEG_CLASSES_WITH_BACKGROUND', 'SEG_PALETTE', 'TASKS', 'TASK_DIRS',
    'DEFAULT_SIZES', 'MANIFEST_NAME', 'make_coco_demo', 'make_ade_demo', 'make_imagenet_demo',
    'make_demo_data'
]
