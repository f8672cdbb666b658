"""Where the configs and tools shipped with mmmobile are, in a checkout and when installed.

A non-editable install carries them inside the package, as OpenMMLab projects do
(``mmmobile/.mim/configs``, ``mmmobile/.mim/tools``; see ``setup.py``); a source checkout has them
beside the package (an editable install links ``.mim/`` to them).
"""
import glob
import os.path as osp
from typing import Optional

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _shipped(name: str) -> Optional[str]:
    for folder in (osp.join(_PACKAGE, '.mim', name), osp.join(osp.dirname(_PACKAGE), name)):
        if osp.isdir(folder):
            return osp.realpath(folder)
    return None


def config_root() -> Optional[str]:
    """The folder of mmmobile's configs (``.mim/configs``, else the checkout's ``configs/``).

    Returns:
        str | None: The folder, or None when neither exists.
    """
    return _shipped('configs')


def tool_root() -> Optional[str]:
    """The folder of mmmobile's tools (``.mim/tools``, else the checkout's ``tools/``).

    Returns:
        str | None: The folder, or None when neither exists.
    """
    return _shipped('tools')


def find_config(name: str) -> Optional[str]:
    """Find a shipped config by file name or by path below the config root.

    Args:
        name (str): ``'repvit-m0.6_demo-in1k.py'``, ``'demo/repvit-m0.6_demo-in1k.py'`` or
            ``'configs/demo/repvit-m0.6_demo-in1k.py'``.

    Returns:
        str | None: The config's path, or None when it is not shipped (config file names are
        unique in mmmobile).
    """
    root = config_root()
    if root is None or not name.endswith('.py'):
        return None
    relative = name[len('configs/'):] if name.startswith('configs/') else name
    if osp.isfile(osp.join(root, relative)):
        return osp.join(root, relative)
    found = glob.glob(osp.join(root, '**', osp.basename(name)), recursive=True)
    return sorted(found)[0] if found and osp.basename(name) == name else None
