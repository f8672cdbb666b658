"""Latency measurement helpers and model-specific speed comparisons."""
from .timing import interleaved_latency, markdown_table

__all__ = ['interleaved_latency', 'markdown_table']
