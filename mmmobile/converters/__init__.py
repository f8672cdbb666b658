"""Official checkpoint converters, one module per backbone family.

``CONVERTERS`` maps a family name to a function ``checkpoint -> (state_dict, meta)``;
:func:`convert_checkpoint` is what ``tools/convert_ckpt.py`` and the tests call.
"""
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, Tuple

import torch

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


def convert_checkpoint(family: str, src: str, dst: str) -> Dict:
    """Convert an official release file into an mmpretrain-style checkpoint.

    The result is ``{'state_dict': {'backbone.*', 'head.*'}, 'meta': {...}}``, loadable by
    mmengine's ``load_checkpoint`` for classifiers and by
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')`` in det/seg configs.
    The source is read with ``weights_only=True``; the destination is written atomically.

    Args:
        family (str): One of :data:`CONVERTERS`.
        src (str): Official checkpoint path.
        dst (str): Output path.

    Returns:
        dict: The ``meta`` written into the checkpoint (converter findings such as the
        RepVGGDW form, plus the source file name).
    """
    if family not in CONVERTERS:
        raise ValueError(f'unknown family {family!r}; choose one of {sorted(CONVERTERS)}')
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint not found: {src}')
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{src} does not hold a state dict')
    state_dict, meta = CONVERTERS[family](checkpoint)
    meta = dict(meta, family=family, source=osp.basename(src), converter='mmmobile')
    out_dir = osp.dirname(osp.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    os.close(fd)
    try:
        torch.save({'state_dict': state_dict, 'meta': meta}, tmp_path)
        os.replace(tmp_path, dst)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
    return meta


__all__ = ['CONVERTERS', 'convert_checkpoint', 'convert_repvit']
