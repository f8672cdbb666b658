"""Writing folders so that a failure never leaves a half-written or half-replaced result."""
import contextlib
import os
import os.path as osp
import shutil
import uuid
from typing import Iterator


@contextlib.contextmanager
def staged_folder(target: str) -> Iterator[str]:
    """Yield a new empty folder beside ``target`` that replaces ``target`` when the block succeeds.

    The old ``target`` (if any) is moved aside, the finished folder renamed into place, and only
    then the old one removed. When the block raises, the staging folder is removed and ``target``
    is left as it was. Callers decide beforehand whether ``target`` may be replaced.

    Args:
        target (str): The folder to create or replace.

    Yields:
        str: The staging folder to write into.
    """
    parent, name = osp.split(osp.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = osp.join(parent, f'.{name}.tmp-{uuid.uuid4().hex[:12]}')
    os.mkdir(staging)  # default permissions (tempfile.mkdtemp would make it private: 0700)
    try:
        yield staging
        if osp.lexists(target):
            previous = staging + '.old'
            os.replace(target, previous)
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(previous, target)
                raise
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
