"""Synthetic demo data in the COCO, ADE20K and ImageNet layouts (see :mod:`mmmobile.demo.data`)."""
from .data import CLASSES, DEFAULT_SIZES, MARKER, TASK_DIRS, TASKS, make_demo_data

__all__ = ['CLASSES', 'DEFAULT_SIZES', 'MARKER', 'TASKS', 'TASK_DIRS', 'make_demo_data']
