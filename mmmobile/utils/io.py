"""Writing results so that a crash never leaves half a file and nothing the user owns is lost.

Every tool of mmmobile writes through these functions:

* a file is written under a temporary name in its own folder and renamed onto its final name
  when complete (:func:`atomic_file`, :func:`atomic_torch_save`, :func:`write_text_atomic`); a
  process killed at any moment leaves either the old file or the complete new one;
* a folder of results is built in a temporary sibling and renamed into place
  (:func:`output_folder`); it carries a manifest (:data:`MANIFEST_NAME`) listing every file the
  tool wrote;
* the overwrite rule: an existing output is replaced only with ``overwrite`` (``--overwrite``),
  and only when it is entirely our own output (every file listed in its manifest); a folder
  holding anything else is refused, naming the foreign files (:func:`check_output_folder`), and a
  file that is not ours is never replaced (:func:`check_output_file`). Nothing is deleted that
  mmmobile did not write.
"""
import contextlib
import json
import os
import os.path as osp
import tempfile
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from .errors import ToolError
from .files import staged_folder

#: File every output folder of mmmobile carries: the tool and the files it wrote.
MANIFEST_NAME = '.mmmobile-manifest.json'

#: Foreign files named in a refusal; the rest are counted.
_NAMED = 5

_UMASK = os.umask(0)
os.umask(_UMASK)


def _name_list(names: Sequence[str]) -> str:
    listed = ', '.join(names[:_NAMED])
    return listed + (f' (+{len(names) - _NAMED} more)' if len(names) > _NAMED else '')


def _default_permissions(path: str, folder: bool = False) -> None:
    """Give a ``mkstemp``/``mkdtemp`` path (mode 0600/0700) the permissions of a normal one."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file (``.NAME.XXXX.partial`` in the same folder, so the rename is atomic) is
    removed when the block raises; ``path`` is then untouched.

    Args:
        path (str): The final file name; its folder is created if needed.

    Yields:
        str: The temporary path to write to.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.partial')
    os.close(fd)
    try:
        yield tmp
        _default_permissions(tmp)
        with open(tmp, 'rb') as f:  # on disk before the rename, for a crash of the machine
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save(obj, path)`` atomically (see :func:`atomic_file`)."""
    import torch
    with atomic_file(path) as tmp:
        torch.save(obj, tmp)


# ------------------------------------------------------------------------------ manifests ---


def files_below(folder: str, manifest: str = MANIFEST_NAME) -> List[str]:
    """Relative paths of everything below ``folder`` that is not a folder (links included),
    plus empty folders (``'name/'``), sorted; the manifest file itself is left out.

    Args:
        folder (str): The folder.
        manifest (str): Name of the manifest file to leave out. Defaults to
            :data:`MANIFEST_NAME`.

    Returns:
        list[str]: What a manifest lists as ``files``.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        rel = osp.relpath(root, folder)
        for name in files + [d for d in dirs if osp.islink(osp.join(root, d))]:
            found.append(osp.normpath(osp.join(rel, name)))
        if rel != '.' and not dirs and not files:
            found.append(rel + os.sep)
    return sorted(f for f in found if f != manifest)


def write_manifest(folder: str, tool: str, extra: Optional[Dict] = None) -> str:
    """Write the manifest of a finished output folder: the tool and every file below it.

    Args:
        folder (str): The folder (usually the staging folder of :func:`output_folder`).
        tool (str): The tool that wrote it, e.g. ``'tools/deploy.py'``.
        extra (dict, optional): More entries to store.

    Returns:
        str: The manifest path.
    """
    manifest = dict(extra or {}, tool=tool, written=time.strftime('%Y-%m-%d %H:%M:%S'),
                    files=files_below(folder))
    path = osp.join(folder, MANIFEST_NAME)
    write_text_atomic(path, json.dumps(manifest, indent=1) + '\n')
    return path


def read_manifest(folder: str, manifest: str = MANIFEST_NAME) -> Optional[Dict]:
    """The manifest of an output folder (a JSON file with a ``files`` list), or None when it has
    none (or an unreadable one)."""
    try:
        with open(osp.join(folder, manifest), encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get('files'), list):
        return None
    return manifest


def foreign_files(folder: str, manifest: str = MANIFEST_NAME) -> List[str]:
    """Everything in ``folder`` that its manifest does not list (all of it without a manifest).

    Args:
        folder (str): An existing folder.
        manifest (str): Name of the manifest file. Defaults to :data:`MANIFEST_NAME`.

    Returns:
        list[str]: Relative paths, sorted; empty when the folder holds only our own output.
    """
    found = read_manifest(folder, manifest)
    ours = set(found['files']) if found else set()
    present = files_below(folder, manifest)
    if found is None and osp.lexists(osp.join(folder, manifest)):
        present.append(manifest)
    return [path for path in present if path not in ours]


# -------------------------------------------------------------------------- overwrite rule ---


def check_output_folder(folder: str, overwrite: bool = False) -> None:
    """Apply the overwrite rule to an output folder before anything is computed.

    A missing or empty folder is fine. A folder holding only the output of an earlier run (every
    file listed in its manifest) may be replaced with ``overwrite``. Anything else is refused,
    naming the files that are not ours; ``overwrite`` never removes them.

    Args:
        folder (str): The output folder.
        overwrite (bool): ``--overwrite`` was given.

    Raises:
        ToolError: The path is a file, holds foreign files, or holds results and ``overwrite``
            is not set.
    """
    if not osp.lexists(folder):
        return
    if not osp.isdir(folder) or osp.islink(folder):
        raise ToolError(f'output folder {folder} exists and is not a folder; choose another '
                        'path (it is never replaced)')
    if not os.listdir(folder):
        return
    foreign = foreign_files(folder)
    if foreign:
        raise ToolError(f'output folder {folder} holds files mmmobile did not write '
                        f'({_name_list(foreign)}); they are never removed, even with '
                        '--overwrite: choose another folder')
    if not overwrite:
        tool = (read_manifest(folder) or {}).get('tool', 'an earlier run')
        raise ToolError(f'output folder {folder} already holds results of {tool}; pass '
                        '--overwrite to replace them')


def check_output_file(path: str, overwrite: bool = False,
                      is_ours: Optional[Callable[[str], bool]] = None) -> None:
    """Apply the overwrite rule to an output file.

    Args:
        path (str): The output file.
        overwrite (bool): ``--overwrite`` was given.
        is_ours (Callable[[str], bool], optional): Tells whether an existing file is output of
            this tool; without it no existing file is replaced.

    Raises:
        ToolError: The path is a folder, or exists and is not ours, or exists and ``overwrite``
            is not set.
    """
    if not osp.lexists(path):
        return
    if osp.isdir(path):
        raise ToolError(f'output file {path} is a folder; give a file name')
    if is_ours is None or not is_ours(path):
        raise ToolError(f'output file {path} already exists and was not written by this tool; '
                        'it is never replaced, even with --overwrite: choose another name')
    if not overwrite:
        raise ToolError(f'output file {path} already exists; pass --overwrite to replace it')


@contextlib.contextmanager
def output_folder(folder: str, overwrite: bool = False, tool: str = 'mmmobile',
                  extra: Optional[Dict] = None) -> Iterator[str]:
    """Build an output folder in a temporary sibling; publish it when the block succeeds.

    Checks the overwrite rule first (:func:`check_output_folder`), yields the staging folder,
    then writes the manifest, checks the rule again and renames the staging folder into place
    (:func:`mmmobile.utils.files.staged_folder`: the old folder, which then holds only our own
    files, is removed after the new one is in place). When the block raises, the staging folder
    is removed and ``folder`` is untouched.

    Args:
        folder (str): The output folder.
        overwrite (bool): Replace our own earlier output. Defaults to False.
        tool (str): Recorded in the manifest. Defaults to 'mmmobile'.
        extra (dict, optional): More manifest entries.

    Yields:
        str: The staging folder to write into.
    """
    check_output_folder(folder, overwrite)
    with staged_folder(folder) as staging:
        _default_permissions(staging, folder=True)
        yield staging
        write_manifest(staging, tool, extra)
        check_output_folder(folder, overwrite)  # again: it may have changed in the meantime


__all__ = [
    'MANIFEST_NAME', 'atomic_file', 'atomic_torch_save', 'check_output_file',
    'check_output_folder', 'files_below', 'foreign_files', 'output_folder', 'read_manifest',
    'write_manifest', 'write_text_atomic'
]
