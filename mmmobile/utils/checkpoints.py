"""The one checkpoint reader of mmmobile: every tool reads checkpoints through it.

:func:`read_checkpoint` turns each way a file can be unusable into one :class:`ToolError` line
that names the file and what is wrong with it: missing, a folder, empty, truncated (an
interrupted download or save), not a checkpoint at all (a text file, an HTML error page, an
archive), refused by ``torch.load(weights_only=True)`` (with the way to opt in for a trusted
file). :func:`load_weights` then checks that the weights fit the model and names the mismatch:
a checkpoint of another backbone family or variant, a fused (deploy) checkpoint for a training
config and the reverse (found from the state-dict keys against the model's own keys), an
official release file that needs converting first, or a classification checkpoint given to a
detector.

The safe loading itself (mmengine's loaders under ``weights_only=True`` with mmmobile's
allow-list, ``--trust-checkpoint``) is :func:`mmmobile.engine.checkpoint.load_checkpoint_file`.
"""
import contextlib
import copy
import inspect
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .configs import config_dicts
from .errors import ToolError

_REMOTE = re.compile(r'^[a-z][a-z0-9+.-]*://', re.IGNORECASE)

#: Keys named in a mismatch message, per kind; the rest are counted.
_KEYS_NAMED = 3

#: Where checkpoints of other codebases keep their weights (official RepViT/CMT: ``model``).
_WRAPPER_KEYS = ('model', 'module', 'model_ema', 'state_dict_ema', 'net')

Shapes = Dict[str, Tuple[int, ...]]


def is_local_path(path: str) -> bool:
    """Whether ``path`` is a local file path (not ``http://``, ``open-mmlab://``, ...)."""
    return not _REMOTE.match(str(path))


def _key_list(keys: Sequence[str]) -> str:
    named = ', '.join(keys[:_KEYS_NAMED])
    return named + (f' (+{len(keys) - _KEYS_NAMED} more)' if len(keys) > _KEYS_NAMED else '')


# ------------------------------------------------------------------------- file diagnosis ---


def _describe_text(head: bytes) -> Optional[str]:
    """What a file that starts with ``head`` is, when it is text; None for binary data."""
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at the end of the sample
            text = head[:-3].decode('utf-8')
        except UnicodeDecodeError:
            return None
    if sum(ch.isprintable() or ch.isspace() for ch in text) < 0.95 * max(len(text), 1):
        return None
    lowered = text.lstrip().lower()
    if lowered.startswith(('<!doctype html', '<html', '<?xml')) or '<html' in lowered[:200]:
        return 'an HTML/XML page, not a checkpoint (a failed download? fetch the file itself)'
    if lowered.startswith('version https://git-lfs'):
        return 'a Git LFS pointer, not the checkpoint (run `git lfs pull` to fetch it)'
    first = ' '.join(text.strip().split())[:40]
    return f'a text file, not a PyTorch checkpoint (it starts with {first!r})'


def checkpoint_file_problem(path: str) -> Optional[str]:
    """Why a local file cannot be a readable checkpoint, from its bytes alone (nothing unpickled).

    Cheap: reads the first bytes and, for the zip format ``torch.save`` writes, the zip
    directory at the end of the file, which an interrupted download or save lacks.

    Args:
        path (str): A local path.

    Returns:
        str | None: The problem (``'is empty (0 bytes)...'``, to follow the file name), or None
        when the file looks like a complete checkpoint.
    """
    if not osp.lexists(path):
        return 'not found'
    if osp.isdir(path):
        return 'is a folder, not a checkpoint file'
    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as f:
            head = f.read(512)
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'
    if size == 0:
        return 'is empty (0 bytes): save or download it again'
    if head.startswith(b'PK\x03\x04'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError):
            return (f'is truncated or damaged ({size:,} bytes, its zip directory is missing): '
                    'an interrupted download or save? get or save it again')
        if not any(name.endswith('data.pkl') for name in names):
            return 'is a zip archive, not a PyTorch checkpoint (no data.pkl inside)'
        return None
    if head[:1] == b'\x80' and head[1:2] in (b'\x02', b'\x03', b'\x04', b'\x05'):
        return None  # the legacy (pickle) format of torch.save; checked when loading
    if _is_safetensors(head, size):
        return None
    if head.startswith(b'\x1f\x8b') or head[257:262] == b'ustar':
        return 'is a compressed archive (gzip/tar), not a checkpoint: extract it first'
    text = _describe_text(head)
    if text:
        return f'is {text}'
    return f'is not a PyTorch checkpoint (unknown format, it starts with {head[:8].hex(" ")})'


def _is_safetensors(head: bytes, size: int) -> bool:
    """The safetensors layout: an 8-byte little-endian header length, then a JSON header."""
    if len(head) < 10 or head[8:9] != b'{':
        return False
    return 0 < int.from_bytes(head[:8], 'little') < size


def _load_safetensors(path: str) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise ToolError(f'checkpoint {path} is a safetensors file; install safetensors '
                        '(pip install safetensors) to read it') from error
    try:
        return dict(load_file(path, device='cpu'))
    except Exception as error:  # noqa: BLE001 - any failure of the parser means a damaged file
        raise ToolError(f'checkpoint {path} is a damaged safetensors file ({error})') from None


def _load_problem(error: BaseException) -> Optional[str]:
    """The user-facing reading of an exception ``torch.load`` raised, or None if unknown."""
    text = ' '.join(str(error).split())
    if isinstance(error, EOFError) or 'truncated' in text or 'unexpected EOF' in text:
        return 'is truncated (an interrupted download or save?): get or save it again'
    if 'PytorchStreamReader' in text or 'corrupt' in text.lower() or 'magic number' in text:
        reason = text.split('. ')[0].rstrip('.')
        return f'is damaged ({reason}): get or save it again'
    return None


def _unsafe_reason(error: BaseException) -> bool:
    """Whether an ``UnsafeCheckpointError`` is a refused global (not a broken pickle)."""
    cause = error.__cause__ or error
    return bool(re.search(r'GLOBAL \S+ was not an allowed global|Unsupported global', str(cause)))


def read_checkpoint(filename: str, trusted: bool = False, map_location: Any = 'cpu',
                    what: str = 'checkpoint') -> Dict[str, Any]:
    """Read a checkpoint file (or URL) that any mmmobile tool was given.

    Local files are checked first (:func:`checkpoint_file_problem`), then loaded with
    :func:`mmmobile.engine.checkpoint.load_checkpoint_file` (``weights_only=True`` unless
    ``trusted``); ``.safetensors`` files are read with safetensors.

    Args:
        filename (str): Local path, or a URL / prefix mmengine's loaders understand.
        trusted (bool): ``--trust-checkpoint``: allow pickled objects. Defaults to False.
        map_location: Passed to ``torch.load``. Defaults to 'cpu'.
        what (str): How the messages call the file, e.g. ``'resume checkpoint'``.

    Returns:
        dict: The checkpoint (a flat state dict is returned as it is).

    Raises:
        ToolError: One line naming the file and the problem; exit code 2 for a missing file.
    """
    from ..engine.checkpoint import UnsafeCheckpointError, load_checkpoint_file

    local = is_local_path(filename)
    if local:
        problem = checkpoint_file_problem(filename)
        if problem == 'not found':
            raise ToolError(f'{what} not found: {filename}', exit_code=2)
        if problem:
            raise ToolError(f'{what} {filename} {problem}')
        with open(filename, 'rb') as f:
            head = f.read(16)
        if _is_safetensors(head, os.path.getsize(filename)):
            return _load_safetensors(filename)
    try:
        checkpoint = load_checkpoint_file(filename, map_location=map_location, trusted=trusted)
    except UnsafeCheckpointError as error:
        if not _unsafe_reason(error):
            raise ToolError(f'{what} {filename} is damaged (not a valid pickle): get or save '
                            'it again') from None
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise ToolError(' '.join(line if line.endswith(('.', ':')) else line + '.'
                                 for line in lines)) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, ImportError,
            AttributeError) as error:
        problem = _load_problem(error)
        if problem is None and not local:
            problem = f'could not be fetched ({" ".join(str(error).split())})'
        if problem is None:
            problem = f'could not be read ({type(error).__name__}: {" ".join(str(error).split())})'
        raise ToolError(f'{what} {filename} {problem}') from None
    if not isinstance(checkpoint, dict):
        raise ToolError(f'{what} {filename} holds a {type(checkpoint).__name__}, not a '
                        'checkpoint dict')
    return checkpoint


def _all_tensors(mapping: Any) -> bool:
    return (isinstance(mapping, dict) and bool(mapping)
            and all(isinstance(v, torch.Tensor) for v in mapping.values()))


def state_dict_of(checkpoint: Dict[str, Any], filename: str) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict inside a checkpoint (``state_dict`` entry or a flat dict of tensors).

    A ``module.`` prefix (DataParallel) is removed.

    Args:
        checkpoint (dict): What :func:`read_checkpoint` returned.
        filename (str): Its name, for the messages.

    Returns:
        OrderedDict[str, Tensor]: The weights.

    Raises:
        ToolError: No state dict of tensors, or one stored the way other codebases do (the
            official ``model`` entry) that needs converting first.
    """
    state = checkpoint.get('state_dict', checkpoint)
    if not _all_tensors(state):
        wrapper = next((key for key in _WRAPPER_KEYS if _all_tensors(checkpoint.get(key))),
                       None)
        if wrapper:
            raise ToolError(f'checkpoint {filename} keeps its weights under {wrapper!r}, as '
                            'official release files do: convert it first with '
                            f'tools/convert_ckpt.py FAMILY {filename} OUT.pth')
        keys = ', '.join(map(str, list(checkpoint)[:6]))
        raise ToolError(f'checkpoint {filename} holds no state dict of tensors (its top-level '
                        f'entries: {keys or "none"})')
    if all(key.startswith('module.') for key in state):
        state = OrderedDict((key[len('module.'):], value) for key, value in state.items())
    return state


# ----------------------------------------------------------------------- weights vs model ---


def _shapes(state: Dict[str, torch.Tensor]) -> Shapes:
    return {key: tuple(value.shape) for key, value in state.items()}


def _similarity(a: Shapes, b: Shapes) -> float:
    """Share of (key, shape) pairs two state dicts have in common (Jaccard index)."""
    if not a and not b:
        return 1.0
    same = sum(1 for key, shape in a.items() if b.get(key) == shape)
    return same / (len(a) + len(b) - same)


def _reparameterizable(model: nn.Module) -> List[nn.Module]:
    return [m for m in model.modules() if m is not model and callable(
        getattr(m, 'switch_to_deploy', None))]


def _is_deploy_form(model: nn.Module) -> bool:
    """Whether the model's mmmobile modules are in their fused form (built with deploy=True)."""
    return any(getattr(m, 'deploy', False) is True for m in _reparameterizable(model))


def _fused_shapes(model: nn.Module) -> Optional[Shapes]:
    """Key shapes of ``model`` after :func:`mmmobile.switch_to_deploy` (a copy is fused)."""
    from ..reparam import switch_to_deploy
    if not _reparameterizable(model) or _is_deploy_form(model):
        return None
    try:
        fused = switch_to_deploy(copy.deepcopy(model).eval())
    except Exception:  # noqa: BLE001 - only a hint: a model that cannot fuse gives none
        return None
    return _shapes(fused.state_dict())


@contextlib.contextmanager
def _weights_on_meta() -> Iterator[None]:
    """Build modules whose parameters and buffers move to the meta device as they are registered.

    Constructors run on the CPU as usual (they may compute with tensors), but no weight keeps
    memory or gets initialized: building any variant for its key shapes is cheap.
    """
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(module, name, param):
        if param is not None and param.device.type != 'meta':
            param = nn.Parameter(param.to('meta'), requires_grad=param.requires_grad)
        register_parameter(module, name, param)

    def buffer(module, name, tensor, persistent=True):
        if tensor is not None and tensor.device.type != 'meta':
            tensor = tensor.to('meta')
        register_buffer(module, name, tensor, persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def _built_shapes(model_cfg: Any, scope: Optional[str], deploy: bool) -> Optional[Shapes]:
    """Key shapes of the model a config builds with every ``deploy`` flag set to ``deploy``
    (weights on the meta device: no memory, no initialization)."""
    from mmengine.registry import MODELS, init_default_scope
    cfg = copy.deepcopy(model_cfg)
    if scope:
        init_default_scope(scope)

    for node in config_dicts(cfg):
        if 'deploy' in node:
            node['deploy'] = deploy
    try:
        with _weights_on_meta():
            return _shapes(MODELS.build(cfg).state_dict())
    except Exception:  # noqa: BLE001 - only a hint
        return None


def _backbone_variants() -> List[Tuple[type, str, bool]]:
    """Every (class, arch, deploy) of the mmmobile backbones."""
    from ..models.backbones.base import MobileBackbone
    from ..registry import MODELS
    MODELS.import_from_location()
    variants = []
    for cls in MODELS.module_dict.values():
        if isinstance(cls, type) and issubclass(cls, MobileBackbone) and cls.arch_settings:
            deploys = (False, True) if 'deploy' in inspect.signature(cls).parameters else (False, )
            variants += [(cls, arch, deploy) for arch in cls.arch_settings for deploy in deploys]
    return variants


_VARIANT_SHAPES: Dict[Tuple[type, str, bool], Optional[Shapes]] = {}


def _variant_shapes(cls: type, arch: str, deploy: bool) -> Optional[Shapes]:
    key = (cls, arch, deploy)
    if key not in _VARIANT_SHAPES:
        kwargs = dict(arch=arch, deploy=True) if deploy else dict(arch=arch)
        try:
            with _weights_on_meta():
                _VARIANT_SHAPES[key] = _shapes(cls(**kwargs).state_dict())
        except Exception:  # noqa: BLE001 - a variant that cannot be built on meta is skipped
            _VARIANT_SHAPES[key] = None
    return _VARIANT_SHAPES[key]


def _variant_name(variant: Tuple[type, str, bool]) -> str:
    cls, arch, deploy = variant
    return f'{cls.__name__} arch {arch!r}' + (' (fused form)' if deploy else '')


def identify_backbone(shapes: Shapes, threshold: float = 0.9) -> Optional[Tuple[type, str, bool]]:
    """The mmmobile backbone variant whose keys and shapes best match ``shapes``.

    The family is chosen on key names first, then its variants on shapes (training forms
    first, fused forms when none fits). Variants are built with their weights on the meta
    device, once per process.

    Args:
        shapes (dict): Key -> shape of a backbone state dict (without the ``backbone.`` prefix).
        threshold (float): Least :func:`_similarity` to report a variant. Defaults to 0.9.

    Returns:
        tuple | None: ``(class, arch, deploy)``, or None when nothing matches well.
    """
    if not shapes:
        return None
    names = set(shapes)
    best_family, best_overlap = None, 0.0
    for cls in {variant[0] for variant in _backbone_variants()}:
        first = next(iter(cls.arch_settings))
        own = _variant_shapes(cls, first, False)
        if own:
            overlap = len(names & set(own)) / len(names)
            if overlap > best_overlap:
                best_family, best_overlap = cls, overlap
    if best_family is None or best_overlap < 0.5:
        return None
    for deploy in (False, True):  # the fused forms only when no training form fits
        scored = [(_similarity(shapes, found), variant) for variant in _backbone_variants()
                  if variant[0] is best_family and variant[2] is deploy
                  and (found := _variant_shapes(*variant)) is not None]
        score, variant = max(scored, key=lambda item: item[0], default=(0.0, None))
        if score >= threshold:
            return variant
    return None


def _mismatch_parts(state: Shapes, own: Shapes) -> List[str]:
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f'{k} {state[k]} != {own[k]}' for k in own if k in state and state[k] != own[k]]
    parts = []
    if missing:
        parts.append(f'missing keys: {_key_list(missing)}')
    if unexpected:
        parts.append(f'unexpected keys: {_key_list(unexpected)}')
    if reshaped:
        parts.append(f'shape mismatch (checkpoint != model): {_key_list(reshaped)}')
    return parts


def _sub(shapes: Shapes, prefix: str) -> Shapes:
    return {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)}


def weights_mismatch(model: nn.Module, state: Dict[str, torch.Tensor], filename: str,
                     model_cfg: Any = None, scope: Optional[str] = None,
                     config_name: Optional[str] = None) -> Optional[str]:
    """Explain why ``state`` does not load strictly into ``model``; None when it does.

    Args:
        model (nn.Module): The model built from the config.
        state (dict): The checkpoint's state dict.
        filename (str): The checkpoint, for the message.
        model_cfg (dict, optional): The config's ``model`` dict; lets a fused model tell a
            training checkpoint (it builds the training form on the meta device).
        scope (str, optional): The config's ``default_scope``.
        config_name (str, optional): The config file, for the message.

    Returns:
        str | None: One line: what the checkpoint is and what to do, then the first mismatched
        keys.
    """
    own = _shapes(model.state_dict())
    have = _shapes(state)
    if have == own:
        return None
    target = f'the model of {config_name}' if config_name else 'the model'
    head = f'checkpoint {filename} does not fit {target}'
    parts = '; '.join(_mismatch_parts(have, own))
    own_score = _similarity(have, own)

    if _is_deploy_form(model):
        other = _built_shapes(model_cfg, scope, False) if model_cfg is not None else None
        if other and _similarity(have, other) > max(own_score, 0.9):
            return (f'{head}: it is a training (unfused) checkpoint and the config builds the '
                    'fused deploy form: use the training config, or fuse the checkpoint first '
                    f'(tools/fuse_ckpt.py); {parts}')
    else:
        other = _fused_shapes(model)
        if other and _similarity(have, other) > max(own_score, 0.9):
            return (f'{head}: it is a fused (deploy) checkpoint and the config builds the '
                    'training form: use the deploy_config.py written beside it (or set '
                    f'deploy=True on the mmmobile modules); {parts}')

    prefixes = {key.split('.')[0] + '.' for key in own}
    if not any(key.split('.')[0] + '.' in prefixes for key in have):
        return (f'{head}: none of its keys belong to the model ({_key_list(list(have))}); an '
                'official release file? convert it first with tools/convert_ckpt.py FAMILY '
                f'{filename} OUT.pth')

    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, nn.Module):
        have_bb, own_bb = _sub(have, 'backbone.'), _sub(own, 'backbone.')
        if have_bb and have_bb != own_bb:
            found, expected = identify_backbone(have_bb), identify_backbone(own_bb)
            if found and found != expected:
                builds = f'; the config builds {_variant_name(expected)}' if expected else ''
                return (f'{head}: it holds a {_variant_name(found)} backbone{builds}; {parts}')
            if not found and _similarity(have_bb, own_bb) < 0.5:
                return (f'{head}: its backbone is another model (another family or variant?); '
                        f'{parts}')
        elif have_bb and have_bb == own_bb:
            return (f'{head}: its backbone weights fit, the rest does not (a checkpoint of '
                    'another task or head? to start from its backbone, use '
                    f"init_cfg=dict(type='Pretrained', checkpoint='{filename}', "
                    f"prefix='backbone.')); {parts}")
    return f'{head}: {parts}'


def load_weights(model: nn.Module, filename: str, trusted: bool = False, model_cfg: Any = None,
                 scope: Optional[str] = None, config_name: Optional[str] = None) -> Dict:
    """Read a checkpoint and load it strictly into ``model``, explaining any mismatch.

    Args:
        model (nn.Module): The model built from the config.
        filename (str): Checkpoint path or URL.
        trusted (bool): ``--trust-checkpoint``. Defaults to False.
        model_cfg (dict, optional): The config's ``model`` dict (see :func:`weights_mismatch`).
        scope (str, optional): The config's ``default_scope``.
        config_name (str, optional): The config file, for the messages.

    Returns:
        dict: The checkpoint's ``meta`` (empty when it has none).

    Raises:
        ToolError: The file cannot be read or does not fit the model (one line).
    """
    checkpoint = read_checkpoint(filename, trusted=trusted)
    state = state_dict_of(checkpoint, filename)
    problem = weights_mismatch(model, state, filename, model_cfg, scope, config_name)
    if problem:
        raise ToolError(problem)
    model.load_state_dict(state, strict=True)
    meta = checkpoint.get('meta')
    return dict(meta) if isinstance(meta, dict) else {}


def pretrained_entries(model_cfg: Any, where: str = 'model') -> List[Tuple[str, str, str]]:
    """Every ``init_cfg=dict(type='Pretrained', checkpoint=...)`` of a model config.

    Args:
        model_cfg (dict): The config's ``model``.
        where (str): The dotted path of ``model_cfg``. Defaults to 'model'.

    Returns:
        list[tuple[str, str, str]]: ``(checkpoint, path of the module config, prefix)``, for
        example ``('repvit.pth', 'model.backbone', 'backbone.')``.
    """
    found: List[Tuple[str, str, str]] = []
    if isinstance(model_cfg, (list, tuple)):
        for index, value in enumerate(model_cfg):
            found += pretrained_entries(value, f'{where}[{index}]')
    elif isinstance(model_cfg, dict):
        inits = model_cfg.get('init_cfg')
        for init in inits if isinstance(inits, (list, tuple)) else [inits]:
            if (isinstance(init, dict) and str(init.get('type', '')).endswith('Pretrained')
                    and isinstance(init.get('checkpoint'), str)):
                found.append((init['checkpoint'], where, init.get('prefix') or ''))
        for key, value in model_cfg.items():
            if key != 'init_cfg':
                found += pretrained_entries(value, f'{where}.{key}')
    return found


def _module_at(model: nn.Module, where: str) -> Optional[nn.Module]:
    """The submodule a config path such as ``model.backbone`` or ``model.neck[0]`` builds."""
    module = model
    for part in re.findall(r'[^.\[\]]+', where)[1:]:
        module = getattr(module, part, None) if not part.isdigit() else (
            module[int(part)] if isinstance(module, (nn.ModuleList, nn.Sequential))
            and int(part) < len(module) else None)
        if not isinstance(module, nn.Module):
            return None
    return module


def check_pretrained(model: nn.Module, model_cfg: Any) -> None:
    """Check the local ``init_cfg`` pretrained files of a built model before its weights are
    initialized from them.

    Each file must be readable (:func:`read_checkpoint`: mmengine's ``PretrainedInit`` loads
    it with ``weights_only=True``), hold keys with the configured ``prefix``, and fit the module
    it initializes: at least one weight with the same name and shape, and no other mmmobile
    backbone variant (a fused checkpoint for the training form counts as another variant).
    Partial fits stay allowed (a classifier's backbone into a detector); mmengine lists the
    missing keys. Files that do not exist are left to
    :func:`~mmmobile.engine.data_check.find_missing_pretrained`.

    Args:
        model (nn.Module): The built (unwrapped) model.
        model_cfg (dict): Its config.

    Raises:
        ToolError: One line naming the file, the config key and the problem.
    """
    from ..models.backbones.base import MobileBackbone
    for filename, where, prefix in pretrained_entries(model_cfg):
        if not is_local_path(filename) or not osp.exists(filename):
            continue
        what = f'pretrained checkpoint ({where}.init_cfg)'
        state = _shapes(state_dict_of(read_checkpoint(filename, what=what), filename))
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            if not any(key.startswith(prefix) for key in state):
                raise ToolError(f'{what} {filename} has no key with the prefix {prefix!r} (its '
                                f'keys: {_key_list(list(state))})')
            state = _sub(state, prefix)
        module = _module_at(model, where)
        if module is None:
            continue
        own = _shapes(module.state_dict())
        if isinstance(module, MobileBackbone):
            found, expected = identify_backbone(state), identify_backbone(own)
            if found and expected and found != expected:
                raise ToolError(f'{what} {filename} holds a {_variant_name(found)} backbone; '
                                f'{where} builds {_variant_name(expected)}')
        if not any(own.get(key) == shape for key, shape in state.items()):
            raise ToolError(f'{what} {filename}: none of its weights fit {where} '
                            f'({type(module).__name__}); ' + '; '.join(_mismatch_parts(state, own)))


__all__ = [
    'check_pretrained', 'checkpoint_file_problem', 'identify_backbone', 'pretrained_entries', 'is_local_path', 'load_weights',
    'read_checkpoint', 'state_dict_of', 'weights_mismatch'
]
