"""`type='mmmobile.RepViT'` builds from mmdet, mmseg and mmpretrain, with or without custom_imports."""
import subprocess
import sys
import textwrap

import pytest

from .conftest import REPO_ROOT

BUILD_WITHOUT_IMPORT = textwrap.dedent("""
    import sys
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('{scope}')
    import {models_module}  # the toolbox's own models, as its Runner would import them
    assert 'mmmobile' not in sys.modules, 'mmmobile was imported too early'
    model = MODELS.build(dict(type='mmmobile.RepViT', arch='m0_6'))
    assert type(model).__module__ == 'mmmobile.models.backbones.repvit', type(model)
    print('built', type(model).__name__)
""")


@pytest.mark.parametrize('scope,models_module', [('mmdet', 'mmdet.models'),
                                                 ('mmseg', 'mmseg.models'),
                                                 ('mmpretrain', 'mmpretrain.models')])
def test_scoped_type_builds_without_custom_imports(scope, models_module):
    """The scope prefix makes mmengine import mmmobile lazily (no custom_imports needed)."""
    code = BUILD_WITHOUT_IMPORT.format(scope=scope, models_module=models_module)
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'built RepViT' in result.stdout


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_scoped_type_builds_with_custom_imports(scope, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    config = tmp_path / 'cfg.py'
    config.write_text("custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)\n"
                      "model = dict(type='mmmobile.RepViT', arch='m0_6', out_indices=(1, 3))\n")
    cfg = Config.fromfile(str(config))
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    from mmmobile.models import RepViT
    assert isinstance(model, RepViT) and model.out_indices == (1, 3)


def test_mmmobile_names_do_not_leak_into_other_scopes():
    """Our classes live in the child registry only, so they cannot shadow a toolbox's classes."""
    from mmengine.registry import MODELS as ROOT
    from mmmobile.registry import MODELS
    assert MODELS.scope == 'mmmobile' and MODELS.parent is ROOT
    assert 'RepViT' in MODELS.module_dict
    assert 'RepViT' not in ROOT.module_dict
