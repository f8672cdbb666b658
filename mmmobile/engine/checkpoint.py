"""Checkpoints that ``torch.load(weights_only=True)`` accepts.

Since torch 2.6, :func:`torch.load` defaults to ``weights_only=True``: it refuses any pickled global
(class or function) that is not on torch's allow-list. mmengine 0.10.7 calls ``torch.load`` without
``weights_only``, and the checkpoints its ``Runner`` writes hold, besides tensors,

* numpy scalars and arrays (``meta``, ``message_hub.runtime_info`` such as ``eta``:
  ``numpy.dtype``, ``numpy.core.multiarray.scalar``, ...), and
* :class:`mmengine.logging.HistoryBuffer` objects (``message_hub.log_scalars``): numpy arrays,
  plus the class-level statistics functions its ``__getstate__`` adds, pickled through
  ``builtins.getattr``,

so ``Runner.resume`` fails on its own checkpoints. This module fixes that without turning the safety
check off:

* :func:`make_weights_only_safe` rewrites a checkpoint dict into weights_only-safe types (python
  numbers and lists, tensors) and makes each ``HistoryBuffer`` pickle as the constructor call
  ``HistoryBuffer(log_history_list, count_history_list, max_length)``;
  :class:`~mmmobile.engine.hooks.SafeCheckpointHook` applies it to every checkpoint the Runner
  saves. Loading gives back ordinary ``HistoryBuffer`` objects with the same histories.
* :func:`register_safe_globals` adds exactly one harmless class to torch's allow-list:
  ``HistoryBuffer``, a plain data container whose constructor only stores the two lists as numpy
  arrays. :func:`load_checkpoint_file` and :class:`~mmmobile.engine.hooks.SafeCheckpointHook`
  call it; importing mmmobile changes nothing.
* :func:`load_checkpoint_file` with ``trusted=True`` (or :envvar:`MMMOBILE_TRUSTED_CHECKPOINT`) is
  the explicit opt-in for a checkpoint the user trusts but that was written elsewhere.
"""
import contextlib
import functools
import os
import os.path as osp
import pickle
import re
from collections import Counter, OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Set, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: Environment variable: ``1``/``true``/``yes`` trusts the checkpoint a tool loads in this run; any
#: other non-empty value is a path, and only the checkpoint at that path is trusted.
TRUSTED_CHECKPOINT_ENV = 'MMMOBILE_TRUSTED_CHECKPOINT'

#: Globals mmmobile adds to torch's weights_only allow-list (see :func:`register_safe_globals`).
SAFE_GLOBALS = (HistoryBuffer, )

_ATOMIC_TYPES = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.dtype,
                 torch.device, torch.Size)
_SAFE_MAPPINGS = (dict, OrderedDict, Counter)
_TRUE_WORDS = ('1', 'true', 'yes', 'on')


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds objects that ``torch.load(weights_only=True)`` refuses to load."""


def global_name(obj: Any) -> str:
    """Return the ``module.qualname`` string torch uses for a pickled global.

    Args:
        obj: A class or function.

    Returns:
        str: For example ``'mmengine.logging.history_buffer.HistoryBuffer'``.
    """
    return f'{obj.__module__}.{obj.__qualname__}'


def register_safe_globals() -> List[str]:
    """Add :data:`SAFE_GLOBALS` to torch's weights_only allow-list (idempotent).

    Only classes whose unpickling cannot run foreign code are listed: ``HistoryBuffer`` is rebuilt
    by its constructor from lists of numbers (or by ``__new__`` + its ``__setstate__``, which
    only stores values the unpickler already accepted). ``weights_only`` stays on for every file,
    and no function (``builtins.getattr``, numpy reconstructors, ...) is allowed.

    Returns:
        list[str]: The allow-listed global names.
    """
    present = {id(item) for item in torch.serialization.get_safe_globals()}
    missing = [item for item in SAFE_GLOBALS if id(item) not in present]
    if missing:
        torch.serialization.add_safe_globals(missing)
    return [global_name(item) for item in SAFE_GLOBALS]


class _PortableHistoryBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` that pickles as a plain constructor call with python lists.

    ``HistoryBuffer.__getstate__`` pickles its class-level statistics functions, which needs
    ``builtins.getattr`` (never allow-listed). This subclass reduces to
    ``HistoryBuffer(log_history, count_history, max_length)`` instead: the only global in the
    pickle is the (allow-listed) ``HistoryBuffer`` class, and loading rebuilds an ordinary
    ``HistoryBuffer`` with the same numpy histories.
    """

    def __reduce__(self) -> tuple:
        return (HistoryBuffer, (make_weights_only_safe(self._log_history.tolist()),
                                make_weights_only_safe(self._count_history.tolist()),
                                int(self.max_length)))


def _portable_history_buffer(buffer: HistoryBuffer) -> HistoryBuffer:
    """Return a copy of ``buffer`` that pickles without ``builtins.getattr``."""
    return _PortableHistoryBuffer(
        np.asarray(buffer._log_history).tolist(),
        np.asarray(buffer._count_history).tolist(),
        max_length=int(buffer.max_length))


def make_weights_only_safe(obj: Any) -> Any:
    """Convert an object tree into types ``torch.load(weights_only=True)`` accepts.

    * numpy scalars -> python numbers/strings (``.item()``), numpy arrays -> nested lists;
    * :class:`HistoryBuffer` -> a copy that pickles as ``HistoryBuffer(list, list, int)`` (the
      class is allow-listed, its statistics functions are not pickled);
    * other mappings (``ConfigDict``, ``defaultdict``) -> ``dict``, list/tuple subclasses
      (namedtuples) -> ``list``/``tuple``; ``dict``, ``OrderedDict`` (with attributes such as a
      state dict's ``_metadata``) and ``Counter`` keep their type.

    Tensors and containers with nothing to change are returned as they are (not copied), so the
    model weights are never touched. Objects of any other type are left alone; see
    :func:`find_unsafe_objects`.

    Args:
        obj: A checkpoint dict or any part of it.

    Returns:
        The converted object; the input is not modified.
    """
    if isinstance(obj, torch.Tensor) or type(obj) in _ATOMIC_TYPES:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return make_weights_only_safe(obj.tolist())
    if isinstance(obj, HistoryBuffer):
        return obj if type(obj) is _PortableHistoryBuffer else _portable_history_buffer(obj)
    if isinstance(obj, dict):
        items = [(make_weights_only_safe(key), make_weights_only_safe(value))
                 for key, value in obj.items()]
        same_type = type(obj) in _SAFE_MAPPINGS
        if same_type and all(new_key is key and new_value is value
                             for (new_key, new_value), (key, value) in zip(items, obj.items())):
            return obj
        result = type(obj)() if same_type else {}
        result.update(items)
        if type(obj) is OrderedDict and obj.__dict__:
            result.__dict__.update(make_weights_only_safe(dict(obj.__dict__)))
        return result
    if isinstance(obj, (list, tuple, set, frozenset)):
        base = next(kind for kind in (list, tuple, set, frozenset) if isinstance(obj, kind))
        items = [make_weights_only_safe(item) for item in obj]
        if type(obj) is base and all(new is old for new, old in zip(items, obj)):
            return obj
        return base(items)
    return obj


def find_unsafe_objects(obj: Any) -> Set[str]:
    """List the types in an object tree that ``torch.load(weights_only=True)`` would refuse.

    A cheap in-memory check (no pickling). It knows torch's built-in allow-list for the types a
    checkpoint normally holds; tensor subclasses count as safe, a plain ``HistoryBuffer`` does not
    (its state pickles ``builtins.getattr``), one converted by :func:`make_weights_only_safe` does.

    Args:
        obj: A checkpoint dict or any part of it.

    Returns:
        set[str]: ``module.qualname`` of each offending type (empty when the tree is safe).
    """
    found: Set[str] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor) or type(item) in _ATOMIC_TYPES:
            continue
        if type(item) in _SAFE_MAPPINGS:
            stack.extend(item.keys())
            stack.extend(item.values())
            if type(item) is OrderedDict and item.__dict__:
                stack.extend(item.__dict__.values())
        elif type(item) in (list, tuple, set, frozenset):
            stack.extend(item)
        elif type(item) is _PortableHistoryBuffer:
            continue
        else:
            found.add(global_name(type(item)))
    return found


def checkpoint_globals(filename: str) -> List[str]:
    """Return every pickled global in a checkpoint file that torch does not allow by itself.

    Unlike :func:`torch.serialization.get_unsafe_globals_in_checkpoint`, globals added with
    ``add_safe_globals`` are reported too, so the result shows what a checkpoint needs beyond
    torch's defaults. Nothing is unpickled. Not thread-safe: the user allow-list is emptied
    for the duration of the call.

    Args:
        filename: Path of a file written by ``torch.save``.

    Returns:
        list[str]: Sorted global names.
    """
    user_globals = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    finally:
        torch.serialization.add_safe_globals(user_globals)


def env_trusts_checkpoint(filename: Optional[str] = None) -> bool:
    """Whether :envvar:`MMMOBILE_TRUSTED_CHECKPOINT` marks a checkpoint as trusted.

    Args:
        filename: The checkpoint about to be loaded; compared with a path given in the variable.

    Returns:
        bool: True for ``1``/``true``/``yes``/``on``, or when the variable names ``filename``.
    """
    value = os.environ.get(TRUSTED_CHECKPOINT_ENV, '').strip()
    if not value or value.lower() in ('0', 'false', 'no', 'off'):
        return False
    if value.lower() in _TRUE_WORDS:
        return True
    return filename is not None and osp.realpath(value) == osp.realpath(str(filename))


@contextlib.contextmanager
def _weights_only_off_for_this_load() -> Iterator[None]:
    """Make the ``torch.load`` calls made inside the block pass ``weights_only=False``.

    Used only around the loading of one trusted checkpoint (mmengine's loaders call ``torch.load``
    without the argument, for local files as for URLs); ``torch.load`` is restored on exit.
    """
    original = torch.load

    @functools.wraps(original)
    def trusted_load(*args: Any, **kwargs: Any) -> Any:
        kwargs['weights_only'] = False
        return original(*args, **kwargs)

    torch.load = trusted_load
    try:
        yield
    finally:
        torch.load = original


def load_checkpoint_file(filename: str,
                         map_location: Union[str, torch.device, None] = 'cpu',
                         trusted: bool = False) -> Dict[str, Any]:
    """Load a checkpoint with mmengine's loaders (local paths, URLs, ``open-mmlab://`` ...).

    By default the load is ``torch.load(weights_only=True)``: tensors, python containers and
    numbers, plus the :data:`SAFE_GLOBALS` allow-list. That is enough for every checkpoint written
    with :class:`~mmmobile.engine.hooks.SafeCheckpointHook` (our tools add it) and for plain weight
    files.

    Trusted checkpoints: a checkpoint that you trust but that was written elsewhere (an older
    mmengine, another codebase, one that stores numpy objects) needs the full unpickler, which can
    run arbitrary code. Opt in explicitly, for this one file only, with ``trusted=True`` (the tools'
    ``--trust-checkpoint`` flag) or the environment variable ``MMMOBILE_TRUSTED_CHECKPOINT=1``
    (or ``=PATH`` to trust only that file). Only the ``torch.load`` calls made while loading this
    checkpoint get ``weights_only=False``; the global default is never changed.

    Args:
        filename: Local path or any URL/prefix mmengine's ``CheckpointLoader`` understands.
        map_location: Passed to ``torch.load``.
        trusted: Load with ``weights_only=False`` (only for a checkpoint you trust).

    Returns:
        dict: The checkpoint.

    Raises:
        UnsafeCheckpointError: The checkpoint holds non-allow-listed objects and is not trusted;
            the message names them and tells how to opt in.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    register_safe_globals()
    trusted = trusted or env_trusts_checkpoint(filename)
    try:
        if trusted:
            with _weights_only_off_for_this_load():
                checkpoint = _load_checkpoint(filename, map_location=map_location)
        else:
            checkpoint = _load_checkpoint(filename, map_location=map_location)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(unsafe_checkpoint_message(filename, error)) from error
    return checkpoint


def unsafe_checkpoint_message(filename: str, error: BaseException) -> str:
    """Explain a weights_only refusal in a few lines, with the ways forward.

    Args:
        filename: The checkpoint that failed to load.
        error: The ``UnpicklingError`` raised by ``torch.load``.

    Returns:
        str: The message.
    """
    text = str(error)
    match = re.search(r'GLOBAL (\S+) was not an allowed global', text)
    if match:
        reason = f'unsupported global {match.group(1)}'
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = next((line for line in lines if 'WeightsUnpickler error' in line),
                      lines[0] if lines else type(error).__name__)
    return (f'torch.load(weights_only=True) refused checkpoint {filename}:\n'
            f'  {reason}\n'
            'It holds objects outside the safe allow-list (checkpoints written by mmmobile tools '
            'or with the mmmobile.SafeCheckpointHook do not). If you trust this file, load it with '
            f'--trust-checkpoint or {TRUSTED_CHECKPOINT_ENV}=1 (this runs its pickled code).')
