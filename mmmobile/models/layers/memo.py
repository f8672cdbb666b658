"""A per-module memo of what inference derives from a weight and the input's size."""
from typing import Callable, Hashable, Optional, Tuple, TypeVar

import torch

Value = TypeVar('Value')


class InferenceMemo:
    """The last value computed from a parameter at inference, reused while neither changes.

    Deploy-form modules keep here what depends only on a weight and on the input's size (a
    weight packed into oneDNN's layout, a position bias resized to the token grid) instead of
    computing it in every forward. The entry is keyed on the parameter's storage (held, so its
    address is not reused), version counter, dtype and device, and on the caller's ``key``; it
    is rebuilt when the parameter is replaced or changed in place (``load_state_dict``,
    ``.to()``, optimizer steps). Edits through ``.data`` bypass the version counter (as they
    bypass autograd): change the parameter itself, under ``torch.no_grad()``.

    ``compute`` runs on every call, and nothing is kept, with grad mode on (the value must carry
    gradients), while tracing or compiling (the graph must hold the computation) and for an
    inference-mode parameter (it has no version counter). One entry is kept: a new key replaces
    it. Copies and pickles of the owner start with an empty memo.
    """

    def __init__(self) -> None:
        self._entry: Optional[Tuple[torch.Tensor, tuple, object]] = None

    def __call__(self, source: torch.Tensor, key: Hashable, compute: Callable[[], Value]) -> Value:
        """``compute()``, or the value it gave for the same ``source`` state and ``key``.

        Args:
            source (Tensor): The parameter the value is derived from.
            key (hashable): What else the value depends on (e.g. the input shape).
            compute (callable): Zero-argument call returning the value.

        Returns:
            The value.
        """
        if (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling()
                or source.is_inference()):
            return compute()
        stamp = (source.data_ptr(), source._version, source.dtype, source.device, key)
        if self._entry is not None and self._entry[1] == stamp:
            return self._entry[2]
        value = compute()
        self._entry = (source.detach(), stamp, value)
        return value

    def clear(self) -> None:
        """Forget the entry."""
        self._entry = None

    def __getstate__(self) -> dict:
        return {'_entry': None}  # e.g. oneDNN tensors cannot be copied or pickled; rebuilt on use

    def __repr__(self) -> str:
        return f'{type(self).__name__}(empty={self._entry is None})'
