"""Checkpoints that ``torch.load(weights_only=True)`` accepts.

Since torch 2.6, :func:`torch.load` defaults to ``weights_only=True``: it refuses any pickled global
(class or function) that is not on torch's allow-list. mmengine 0.10.7 calls ``torch.load`` without
``weights_only``, and the checkpoints its ``Runner`` writes hold, besides tensors,

* numpy scalars and arrays (``meta``, ``message_hub.runtime_info`` such as ``eta``), and
* :class:`mmengine.logging.HistoryBuffer` objects whose state is numpy arrays
  (``message_hub.log_scalars``),

so ``Runner.resume`` fails on its own checkpoints. This module fixes that without turning the safety
check off:

* :func:`make_weights_only_safe` rewrites a checkpoint dict into weights_only-safe types (python
  numbers and lists, tensors); :class:`~mmmobile.engine.hooks.SafeCheckpointHook` applies it to
  every checkpoint the Runner saves and :func:`restore_history_buffers` undoes the only
  non-trivial change (HistoryBuffer states) after loading.
* :func:`register_safe_globals` adds exactly one harmless class to torch's allow-list:
  ``HistoryBuffer``, a plain data container whose unpickling runs no code (its state is restored
  with ``__dict__.update``). It is called when :mod:`mmmobile.engine` is imported.
* :func:`load_checkpoint_file` with ``trusted=True`` (or :envvar:`MMMOBILE_TRUSTED_CHECKPOINT`) is
  the explicit opt-in for a checkpoint the user trusts but that was written elsewhere.
"""
import contextlib
import functools
import os
import os.path as osp
import pickle
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

    Only classes whose unpickling cannot run code are listed: ``HistoryBuffer`` is rebuilt by
    ``cls.__new__`` plus ``__dict__.update`` of tensors and numbers. ``weights_only`` stays on for
    every file, and no function (``builtins.getattr``, numpy reconstructors, ...) is allowed.

    Returns:
        list[str]: The allow-listed global names.
    """
    present = {id(item) for item in torch.serialization.get_safe_globals()}
    missing = [item for item in SAFE_GLOBALS if id(item) not in present]
    if missing:
        torch.serialization.add_safe_globals(missing)
    return [global_name(item) for item in SAFE_GLOBALS]


def _safe_history_buffer(buffer: HistoryBuffer) -> HistoryBuffer:
    """Return a copy of ``buffer`` whose numpy histories are tensors (weights_only-safe)."""
    safe = HistoryBuffer(max_length=int(buffer.max_length))
    safe._log_history = _array_to_safe(buffer._log_history)
    safe._count_history = _array_to_safe(buffer._count_history)
    return safe


def _array_to_safe(array: Any) -> Any:
    """Numeric numpy array -> tensor with the same dtype; anything else -> safe python types."""
    if isinstance(array, np.ndarray):
        if array.dtype.kind in 'biufc':
            try:
                return torch.from_numpy(np.ascontiguousarray(array).copy())
            except TypeError:  # a dtype torch does not support (e.g. float128)
                pass
        return make_weights_only_safe(array.tolist())
    return make_weights_only_safe(array)


def make_weights_only_safe(obj: Any) -> Any:
    """Convert an object tree into types ``torch.load(weights_only=True)`` accepts.

    * numpy scalars -> python numbers/strings (``.item()``), numpy arrays -> nested lists;
    * :class:`HistoryBuffer` -> a copy whose histories are tensors (undo with
      :func:`restore_history_buffers`; the class itself is allow-listed);
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
        return _safe_history_buffer(obj)
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


def restore_history_buffers(obj: Any) -> Any:
    """Turn tensor histories of :class:`HistoryBuffer` objects back into numpy arrays, in place.

    The inverse of what :func:`make_weights_only_safe` does to message hub scalars, so the resumed
    ``MessageHub`` holds exactly the buffers of the stopped run.

    Args:
        obj: A loaded checkpoint dict (or its ``message_hub`` entry).

    Returns:
        The same object.
    """
    if isinstance(obj, HistoryBuffer):
        for name in ('_log_history', '_count_history'):
            value = getattr(obj, name, None)
            if isinstance(value, torch.Tensor):
                setattr(obj, name, value.cpu().numpy())
            elif isinstance(value, list):
                setattr(obj, name, np.array(value))
    elif isinstance(obj, dict):
        for value in obj.values():
            restore_history_buffers(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            restore_history_buffers(value)
    return obj


def find_unsafe_objects(obj: Any) -> Set[str]:
    """List the types in an object tree that ``torch.load(weights_only=True)`` would refuse.

    A cheap in-memory check (no pickling). It knows torch's built-in allow-list for the types a
    checkpoint normally holds plus :data:`SAFE_GLOBALS`; tensor subclasses count as safe.

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
        elif type(item) in SAFE_GLOBALS:
            stack.extend(vars(item).values())
        else:
            found.add(global_name(type(item)))
    return found


def checkpoint_globals(filename: str) -> List[str]:
    """Return every pickled global in a checkpoint file that torch does not allow by itself.

    Unlike :func:`torch.serialization.get_unsafe_globals_in_checkpoint`, globals added with
    ``add_safe_globals`` are reported too, so the result shows what a checkpoint needs beyond
    torch's defaults. Nothing is unpickled.

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
        dict: The checkpoint (HistoryBuffer states already converted back to numpy).

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
    return restore_history_buffers(checkpoint)


def unsafe_checkpoint_message(filename: str, error: BaseException) -> str:
    """Explain a weights_only refusal in a few lines, with the ways forward.

    Args:
        filename: The checkpoint that failed to load.
        error: The ``UnpicklingError`` raised by ``torch.load``.

    Returns:
        str: The message.
    """
    detail = str(error).strip().splitlines()
    reason = next((line.strip() for line in detail if 'GLOBAL' in line or 'Unsupported' in line),
                  detail[0].strip() if detail else type(error).__name__)
    return (f'torch.load(weights_only=True) refused checkpoint {filename}:\n'
            f'  {reason}\n'
            'It holds objects outside the safe allow-list (checkpoints written by mmmobile tools '
            'or with the mmmobile.SafeCheckpointHook do not). If you trust this file, load it with '
            f'--trust-checkpoint or {TRUSTED_CHECKPOINT_ENV}=1 (this runs its pickled code).')
