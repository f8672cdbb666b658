"""The one config reader of mmmobile, and plain messages for config mistakes found while building.

:func:`read_config` reads a config file for every tool and turns what can be wrong with the file
into one :class:`ToolError` line: the file is missing, has a syntax error (file and line), names
a ``_base_`` that does not exist, or fails while executing (the error and its line);
``--cfg-options`` that cannot be merged are named too.

Mistakes inside the dicts only show when a registry builds them. :func:`explain_build_error`
reads the exception mmengine's ``build_from_cfg`` raised and, for the mistakes a user makes,
returns one line: an unknown ``type`` (the registry scope and the closest registered names), an
unexpected or misspelled keyword (the config key, the class and the keywords it accepts), or an
invalid value one of our modules refused. :func:`config_errors` applies it around a block.
Anything else (a bug) keeps its traceback.
"""
import ast
import contextlib
import difflib
import inspect
import os.path as osp
import traceback
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .errors import ToolError

_BUILD_FUNCTION = ('build_from_cfg', osp.join('mmengine', 'registry', 'build_functions.py'))


def config_dicts(node: Any) -> Iterator[dict]:
    """Every dict in a nested config (dicts, lists, tuples), parents before children."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from config_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from config_dicts(value)


def _line_of(path: str, lineno: Optional[int]) -> str:
    try:
        with open(path, encoding='utf-8') as f:
            return f.read().splitlines()[lineno - 1].strip()
    except (OSError, IndexError, TypeError):
        return ''


def _base_entries(tree: ast.Module) -> List[str]:
    """The literal ``_base_`` file names a config assigns (one string or a list of them)."""
    entries: List[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == '_base_' for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            entries += [value] if isinstance(value, str) else [v for v in value if isinstance(
                v, str)]
    return entries


def _check_config_chain(path: str, child: Optional[str] = None,
                        seen: Optional[set] = None) -> None:
    """Check a config file and its ``_base_`` files exist and parse, before mmengine runs them."""
    seen = set() if seen is None else seen
    real = osp.realpath(path)
    if real in seen:
        return
    seen.add(real)
    if not osp.isfile(path):
        if child is None:
            raise ToolError(f'config file not found: {path}', exit_code=2)
        raise ToolError(f'config {child}: its _base_ {path} does not exist', exit_code=2)
    if not path.endswith('.py'):
        return
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except SyntaxError as error:
        code = (error.text or '').strip() or _line_of(path, error.lineno)
        where = f'{path}, line {error.lineno}' if error.lineno else path
        raise ToolError(f'config {where}: syntax error: {error.msg}'
                        + (f': {code}' if code else ''), exit_code=2) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ToolError(f'config {path} cannot be read: {error}', exit_code=2) from None
    for entry in _base_entries(tree):
        if '::' not in entry and '{{' not in entry:
            _check_config_chain(osp.normpath(osp.join(osp.dirname(path), entry)), path, seen)


def _config_frame(error: BaseException, files: List[str]) -> Optional[Tuple[str, int]]:
    """The innermost traceback frame that runs one of the config files: (file, line)."""
    real = {osp.realpath(f) for f in files}
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if osp.realpath(frame.filename) in real:
            found = (frame.filename, frame.lineno)
    return found


def _chain_files(path: str) -> List[str]:
    files, stack = [], [path]
    while stack:
        current = stack.pop()
        if current in files or not osp.isfile(current):
            continue
        files.append(current)
        try:
            with open(current, encoding='utf-8') as f:
                entries = _base_entries(ast.parse(f.read()))
        except (OSError, SyntaxError, ValueError):
            entries = []
        stack += [osp.join(osp.dirname(current), e) for e in entries if '::' not in e]
    return files


def read_config(path: str, cfg_options: Optional[Dict[str, Any]] = None):
    """Read a config file and merge ``--cfg-options`` into it, for every tool.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``key=value`` overrides (dotted keys), as parsed by
            mmengine's ``DictAction``.

    Returns:
        mmengine.Config: The config.

    Raises:
        ToolError: One line naming the file (and line) and the problem; exit code 2.
    """
    from mmengine.config import Config

    _check_config_chain(path)
    try:
        cfg = Config.fromfile(path)
    except Exception as error:  # noqa: BLE001 - executing a config can raise anything
        where = _config_frame(error, _chain_files(path))
        text = ' '.join(str(error).split()) or type(error).__name__
        if where:
            code = _line_of(*where)
            raise ToolError(f'config {where[0]}, line {where[1]}: {type(error).__name__}: '
                            f'{text}' + (f': {code}' if code else ''), exit_code=2) from None
        raise ToolError(f'config {path} could not be read: {type(error).__name__}: {text}',
                        exit_code=2) from None
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            options = ' '.join(f'{k}={v}' for k, v in cfg_options.items())
            raise ToolError(f'--cfg-options {options} cannot be merged into {path}: '
                            f'{" ".join(str(error).split())}', exit_code=2) from None
    return cfg


# -------------------------------------------------------------------------- build errors ---


def _is_build(frame) -> bool:
    code = frame.f_code
    return code.co_name == _BUILD_FUNCTION[0] and code.co_filename.endswith(_BUILD_FUNCTION[1])


def _build_frame(error: BaseException):
    """The ``build_from_cfg`` frame whose own call raised ``error``: the error comes from that
    frame, or from the ``__init__`` chain (``super().__init__(**kwargs)``) of the class it
    builds; and whether it was raised in that frame itself. ``(None, False)`` otherwise."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for index in range(len(frames) - 1, -1, -1):
        if _is_build(frames[index]):
            if all(f.f_code.co_name == '__init__' for f in frames[index + 1:]):
                return frames[index], index == len(frames) - 1
            return None, False
    return None, False


def _innermost_build(error: BaseException):
    """The innermost ``build_from_cfg`` frame on the traceback (the object being built)."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        if _is_build(tb.tb_frame):
            found = tb.tb_frame
        tb = tb.tb_next
    return found


def _registry_names(registry) -> List[str]:
    """The names ``registry.get`` resolves: those of the registry and its ancestors, and
    ``scope.Name`` for the other registries of its tree."""
    names, current, root, line = [], registry, registry, set()
    while current is not None:
        names += list(current.module_dict)
        line.add(id(current))
        root, current = current, current.parent
    stack = [root]
    while stack:
        current = stack.pop()
        if id(current) not in line:
            names += [f'{current.scope}.{name}' for name in current.module_dict]
        stack += list(current.children.values())
    return list(dict.fromkeys(names))


def _scope_of(name: str, registry) -> str:
    """The scope ``registry.get(name)`` searched: a known ``scope.`` prefix, else its own."""
    prefix = name.split('.', 1)[0] if '.' in name else None
    root = registry
    while root.parent is not None:
        root = root.parent
    stack = [root]
    while stack and prefix:
        current = stack.pop()
        if current.scope == prefix:
            return prefix
        stack += list(current.children.values())
    return registry.scope


def closest_names(name: str, candidates: List[str], count: int = 3) -> List[str]:
    """The ``count`` candidates most similar to ``name``, case-insensitive; a scope prefix
    (``mmmobile.``) on either side is compared with and without."""

    def bare(text: str) -> str:
        return text.rsplit('.', 1)[-1].lower()

    scored = []
    for candidate in candidates:
        score = max(difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio(),
                    difflib.SequenceMatcher(None, bare(name), bare(candidate)).ratio())
        if score >= 0.6:
            scored.append((-score, len(candidate), candidate))
    return [candidate for _, _, candidate in sorted(scored)[:count]]


def _find_key(node: Any, obj_type: Any, key: Optional[str], path: str = '') -> Optional[str]:
    """The dotted config path of the dict whose ``type`` is ``obj_type`` (holding ``key``)."""
    if isinstance(node, dict):
        if node.get('type') == obj_type and (key is None or key in node):
            return path
        for name, value in node.items():
            found = _find_key(value, obj_type, key, f'{path}.{name}' if path else str(name))
            if found is not None:
                return found
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            found = _find_key(value, obj_type, key, f'{path}[{index}]')
            if found is not None:
                return found
    return None


def _accepted(obj_cls: Any) -> Tuple[List[str], bool]:
    """Keyword names ``obj_cls`` accepts, following ``**kwargs`` passed on to base classes, and
    whether it still takes any keyword in the end."""
    if not inspect.isclass(obj_cls):
        try:
            parameters = list(inspect.signature(obj_cls).parameters.values())
        except (TypeError, ValueError):
            return [], True
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        return names, any(p.kind == p.VAR_KEYWORD for p in parameters)
    names: List[str] = []
    for cls in obj_cls.__mro__:
        init = cls.__dict__.get('__init__')
        if init is None:
            continue
        if cls is object:
            return names, False
        try:
            parameters = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            return names, True
        names += [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in names]
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names, False
    return names, True


def _where(cfg: Any, obj_type: Any, key: Optional[str], name: str) -> str:
    if hasattr(cfg, 'to_dict'):
        cfg = cfg.to_dict()
    path = _find_key(cfg, obj_type, key) if cfg is not None else None
    if path is None and key is not None and cfg is not None:
        path = _find_key(cfg, obj_type, None)
    return f'{path} ({name})' if path else name


def explain_build_error(error: BaseException, cfg: Any = None) -> Optional[str]:
    """One line for a config mistake that made a registry build fail, or None for other errors.

    Recognized: an unknown ``type`` (``KeyError`` raised by ``build_from_cfg``), keywords the
    class does not take or required ones that are missing (``TypeError`` binding the
    arguments), and a ``ValueError`` an mmmobile constructor raised for a bad value.

    Args:
        error (BaseException): The exception.
        cfg (dict, optional): The config, to name the key that holds the mistake.

    Returns:
        str | None: The message.
    """
    frame, direct = _build_frame(error)
    if frame is not None:
        local = frame.f_locals
        registry = local.get('registry')
        obj_type = local.get('obj_type')
        if (isinstance(error, KeyError) and direct and isinstance(obj_type, str)
                and registry is not None and local.get('obj_cls') is None):
            close = closest_names(obj_type, _registry_names(registry))
            hint = f'; closest registered names: {", ".join(close)}' if close else ''
            where = _where(cfg, obj_type, None, 'type')
            where = where if where == 'type' else where.replace(' (type)', '.type')
            return (f'{where}: {obj_type!r} is not registered in the '
                    f'{_scope_of(obj_type, registry)}::{registry.name} registry{hint}')
        obj_cls = local.get('obj_cls')
        args = local.get('args')
        if isinstance(error, TypeError) and obj_cls is not None and isinstance(args, dict):
            name = getattr(obj_cls, '__name__', str(obj_cls))
            accepted, var_kw = _accepted(obj_cls)
            unexpected = [k for k in args if k not in accepted] if not var_kw else []
            text = str(error)
            if not unexpected and 'unexpected keyword argument' in text:
                unexpected = [text.rsplit("'", 2)[-2]] if text.count("'") >= 2 else []
            if unexpected:
                key = unexpected[0]
                close = closest_names(key, accepted, count=1)
                hint = f' (did you mean {close[0]!r}?)' if close else ''
                where = _where(cfg, obj_type, key, name)
                return (f'{where}: unexpected keyword {key!r}{hint}; {name} accepts: '
                        f'{", ".join(a for a in accepted if a != "self")}')
            if 'required' in text and 'argument' in text:
                where = _where(cfg, obj_type, None, name)
                return f'{where}: {text.split(": ", 1)[-1] if ": " in text else text}'
    if isinstance(error, ValueError):
        build = _innermost_build(error)
        raised = traceback.extract_tb(error.__traceback__)[-1].filename
        obj_cls = build.f_locals.get('obj_cls') if build is not None else None
        if (obj_cls is not None and getattr(obj_cls, '__module__', '').startswith('mmmobile.')
                and f'{osp.sep}mmmobile{osp.sep}' in raised):
            name = obj_cls.__name__
            where = _where(cfg, build.f_locals.get('obj_type'), None, name)
            return f'{where}: {" ".join(str(error).split())}'
    return None


@contextlib.contextmanager
def config_errors(cfg: Any = None) -> Iterator[None]:
    """Turn config mistakes found while building (see :func:`explain_build_error`) into
    :class:`ToolError`; other exceptions pass unchanged.

    Args:
        cfg (dict, optional): The config, to name the key that holds the mistake.
    """
    try:
        yield
    except (KeyError, TypeError, ValueError) as error:
        message = explain_build_error(error, cfg)
        if message is None:
            raise
        raise ToolError(message, exit_code=2) from None


__all__ = ['closest_names', 'config_errors', 'explain_build_error', 'read_config']
