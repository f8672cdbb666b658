"""Small pieces every part of mmmobile shares: the user-facing error type and tensor helpers."""
from .errors import ToolError
from .tensors import flatten_tensors, randomize_bn_statistics, relative_error

__all__ = ['ToolError', 'flatten_tensors', 'randomize_bn_statistics', 'relative_error']
