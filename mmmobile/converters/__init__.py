"""Official checkpoint converters, one module per backbone family.

``CONVERTERS`` maps a family name to a function ``checkpoint -> (state_dict, meta)``;
:func:`convert_checkpoint` is what ``tools/convert_ckpt.py`` and the tests call.
"""
import os.path as osp
from typing import Callable, Dict, Tuple

from .cmt import convert_cmt
from .mobilevitv3 import convert_mobilevitv3
from .replknet import convert_replknet
from .repvit import convert_repvit

CONVERTERS: Dict[str, Callable[[Dict], Tuple[Dict, Dict]]] = {
    'cmt': convert_cmt,
    'mobilevitv3': convert_mobilevitv3,
    'replknet': convert_replknet,
    'repvit': convert_repvit,
}


def _is_converted(path: str) -> bool:
    """Whether ``path`` is a checkpoint :func:`convert_checkpoint` wrote (its ``meta``)."""
    from ..utils import ToolError
    from ..utils.checkpoints import read_checkpoint
    try:
        meta = read_checkpoint(path).get('meta')
    except ToolError:
        return False
    return isinstance(meta, dict) and meta.get('converter') == 'mmmobile'


def convert_checkpoint(family: str, src: str, dst: str, overwrite: bool = False,
                       trusted: bool = False) -> Dict:
    """Convert an official release file into an mmpretrain-style checkpoint.

    The result is ``{'state_dict': {'backbone.*', 'head.*'}, 'meta': {...}}``, loadable by
    mmengine's ``load_checkpoint`` for classifiers and by
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')`` in det/seg configs.
    The source is read with :func:`mmmobile.utils.checkpoints.read_checkpoint`
    (``weights_only=True`` unless ``trusted``); the destination is written atomically. An
    existing ``dst`` is replaced only with ``overwrite`` and only when it is a checkpoint this
    function wrote; the source is never replaced.

    Args:
        family (str): One of :data:`CONVERTERS`.
        src (str): Official checkpoint path.
        dst (str): Output path.
        overwrite (bool): Replace an earlier conversion at ``dst``. Defaults to False.
        trusted (bool): Read a ``src`` that holds pickled objects (``--trust-checkpoint``).
            Defaults to False.

    Returns:
        dict: The ``meta`` written into the checkpoint (converter findings such as the
        RepVGGDW form, plus the source file name).

    Raises:
        ToolError: Unknown family, unreadable source, a source of another family or layout, or
            a ``dst`` that may not be replaced (one line each).
    """
    from ..utils import ToolError
    from ..utils.checkpoints import read_checkpoint
    from ..utils.io import atomic_torch_save, check_output_file

    if family not in CONVERTERS:
        raise ToolError(f'unknown family {family!r}; choose one of {sorted(CONVERTERS)}',
                        exit_code=2)
    if osp.exists(dst) and osp.exists(src) and osp.samefile(src, dst):
        raise ToolError(f'the output {dst} is the source checkpoint; give another output name',
                        exit_code=2)
    check_output_file(dst, overwrite, is_ours=_is_converted)
    checkpoint = read_checkpoint(src, trusted=trusted)
    try:
        state_dict, meta = CONVERTERS[family](checkpoint)
    except (ValueError, KeyError) as error:
        reason = error.args[0] if error.args else type(error).__name__
        raise ToolError(f'checkpoint {src} cannot be converted as {family}: {reason}') from None
    meta = dict(meta, family=family, source=osp.basename(src), converter='mmmobile')
    atomic_torch_save({'state_dict': state_dict, 'meta': meta}, dst)
    return meta


__all__ = ['CONVERTERS', 'convert_checkpoint', 'convert_repvit']
