"""Classifiers of mmmobile: distillation training for any mmpretrain classifier."""
from .distillation import DISTILL_MODES, DistillationClassifier

__all__ = ['DISTILL_MODES', 'DistillationClassifier']
