"""Load a script of ``tools/`` as a module, so tests call its ``parse_args`` / ``main`` in-process."""
import importlib.util
import os.path as osp
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator, List

from .conftest import REPO_ROOT

_LOADED = {}


def load_tool(relative: str) -> ModuleType:
    """The module of ``tools/<relative>`` (e.g. ``'infer.py'``), loaded once per session."""
    if relative not in _LOADED:
        path = osp.join(REPO_ROOT, 'tools', relative)
        name = 'mmmobile_tool_' + relative[:-3].replace('/', '_')
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[relative] = module
    return _LOADED[relative]


@contextmanager
def command_line(path: str, args: List[str]) -> Iterator[None]:
    """Run the block with ``sys.argv`` set to ``[path, *args]`` (for ``parse_args()``)."""
    saved = sys.argv
    sys.argv = [path, *args]
    try:
        yield
    finally:
        sys.argv = saved
