"""High-level entry points over the toolboxes' APIs (not imported by ``import mmmobile``)."""
from .inference import config_task, dataset_meta, infer, summary_lines

__all__ = ['config_task', 'dataset_meta', 'infer', 'summary_lines']
