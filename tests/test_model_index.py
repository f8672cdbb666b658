"""The OpenMMLab model index lists exactly the configs on disk, every one loads, and the written
files are what the generator makes of the configs (so they cannot drift)."""
import glob
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

from mmmobile.model_index import COLLECTIONS, OFFICIAL, build_model_index
from .conftest import REPO_ROOT
from .tool_loader import command_line, load_tool


def read_yaml(relative):
    with open(osp.join(REPO_ROOT, relative), encoding='utf-8') as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def index_models():
    """Every model of the written index, read through ``model-index.yml``'s imports."""
    models = []
    for metafile in read_yaml('model-index.yml')['Import']:
        data = read_yaml(metafile)
        assert [c['Name'] for c in data['Collections']] == [data['Models'][0]['In Collection']]
        models.extend(data['Models'])
    return models


def test_index_lists_exactly_the_configs_on_disk(index_models):
    on_disk = {osp.relpath(p, REPO_ROOT) for p in
               glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
               if '_base_' not in osp.relpath(p, REPO_ROOT).split(osp.sep)}
    assert {m['Config'] for m in index_models} == on_disk
    names = [m['Name'] for m in index_models]
    assert len(names) == len(set(names))


@pytest.fixture(scope='module')
def generated():
    """The generator's output for the configs on disk, and every config it loaded."""
    loaded = {}
    return build_model_index(REPO_ROOT, loaded=loaded), loaded


def test_every_config_named_in_the_index_loads(index_models, generated):
    _, loaded = generated  # read with mmengine's Config.fromfile by the generator
    for path in sorted({m['Config'] for m in index_models}):
        assert isinstance(loaded[path], Config)
        family = loaded[path].model.backbone.type.split('.')[-1]
        assert all(m['In Collection'] == family for m in index_models if m['Config'] == path)


def test_written_index_is_what_the_configs_give(generated):
    for path, text in generated[0].items():
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
            assert f.read() == text, f'{path} is out of date: run python tools/model_index.py'


def test_weights_and_results(index_models):
    by_name = {m['Name']: m for m in index_models}
    for stem, entries in OFFICIAL.items():
        for entry in entries:
            model = by_name[entry.get('name') or stem]
            assert model['Results'][0]['Metrics']
            if entry.get('weights'):
                assert model['Weights'].startswith('https://')
    for model in index_models:
        assert model['In Collection'] in COLLECTIONS
        if 'Weights' in model:  # official weights come with the paper's result
            assert model['Results'][0]['Task'] == 'Image Classification'
    assert by_name['repvit-m0.9_official-450e_in1k']['Config'] == \
        by_name['repvit-m0.9_8xb256-300e_in1k']['Config']


def test_tool_help(capsys):
    tool = load_tool('model_index.py')
    with command_line('tools/model_index.py', ['--help']), pytest.raises(SystemExit) as info:
        tool.parse_args()
    assert info.value.code == 0 and '--check' in capsys.readouterr().out
