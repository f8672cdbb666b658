"""The benchmark tool: variants from the registry, well-formed outputs, README zoo, bad input.

Runs tiny variants at a small input with few repeats; no speed assertions.
"""
import csv
import importlib.util
import json
import os.path as osp
import struct

import pytest

from mmmobile.benchmark import (list_variants, run_benchmark, summarize,
                                update_readme_zoo, write_outputs)
from mmmobile.benchmark.report import CSV_COLUMNS, ZOO_BEGIN, ZOO_END, ZOO_PLOT
from mmmobile.benchmark.timing import interleaved_latency
from mmmobile.benchmark.zoo import backbone_classes, find_variant
from mmmobile.engine import ToolError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
HAS_TIMM = importlib.util.find_spec('timm') is not None


@pytest.fixture(scope='module')
def result():
    """One small run: a RepViT (timm peer) and a CMT (no peer package) at 64x64."""
    return run_benchmark(['repvit-m0.9', 'cmt-ti'], shape=(64, 64), batch_size=2, warmup=0,
                         repeats=2, threads=1, peak_size=128, progress=False)


def test_variants_enumerate_every_registered_arch():
    variants = list_variants()
    names = [v.name for v in variants]
    assert len(names) == len(set(names))
    for family, cls in backbone_classes().items():
        for arch in cls.arch_settings:
            assert any(v.family == family and v.arch == arch for v in variants), (family, arch)
    repvit = find_variant('RepViT-M1_0', variants)
    assert (repvit.name, repvit.arch, repvit.resolution, repvit.top1) == (
        'repvit-m1.0', 'm1_0', 224, 80.0)
    assert repvit.config.endswith('repvit-m1.0_8xb256-300e_in1k.py')
    replknet = find_variant('replknet-31b', variants)
    assert replknet.config.endswith('replknet-31b_32xb64-300e_in1k.py')  # the 224 one, not 384
    assert find_variant('cmt-ti', variants).resolution == 160
    assert find_variant('nosuch-1.0', variants) is None


def test_summarize_and_interleaved_timing():
    stats = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats == dict(median_ms=3.0, q1_ms=2.0, q3_ms=4.0, min_ms=1.0, max_ms=5.0)
    calls = []
    times = interleaved_latency({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                                warmup=1, repeats=3, progress=lambda: calls.append('|'))
    assert calls == ['a', 'b', '|'] * 4
    assert [len(v) for v in times.values()] == [3, 3]


def test_results_hold_every_measurement(result):
    meta = result['meta']
    assert meta['threads'] == 1 and meta['gemm_gflops'] > 0 and meta['batch_size'] == 2
    targets = {t['name']: t for t in result['targets']}
    assert set(targets) == {'repvit-m0.9', 'cmt-ti'}
    for target in targets.values():
        assert target['params'] >= target['params_fused'] > 0
        assert target['macs'] > 0 and target['latency_ms'] > 0 and target['throughput'] > 0
        assert 0 < target['peak_fraction']
    for name in targets:  # both backbones prefer channels_last (measured)
        assert targets[name]['layout'] == 'channels_last'
    assert 'no peer package' in targets['cmt-ti']['peer']
    rows = [r for r in result['rows'] if r['target'] == 'cmt-ti']
    assert [r['candidate'] for r in rows] == [
        'mmmobile unfused', 'mmmobile fused', 'mmmobile fused, NCHW',
        'mmmobile fused, TorchScript', 'mmmobile fused, ONNX Runtime']
    for row in result['rows']:
        assert row['q1_ms'] <= row['median_ms'] <= row['q3_ms']
        if row['impl'] == 'mmmobile':  # fused, traced and exported models compute the same
            assert row['relative_error'] < 1e-4, row
    peers = [r for r in result['rows'] if r['impl'] == 'timm']
    if HAS_TIMM:
        assert sorted(r['layout'] for r in peers) == ['NCHW', 'channels_last']
        best = min(r['median_ms'] for r in peers)
        ratio = targets['repvit-m0.9']['ratio_to_peer']
        assert ratio == pytest.approx(targets['repvit-m0.9']['latency_ms'] / best)
    else:
        assert not peers and 'timm is not installed' in targets['repvit-m0.9']['peer']


def test_outputs_are_well_formed(result, tmp_path):
    paths = write_outputs(result, str(tmp_path / 'bench'))
    markdown = open(paths['markdown']).read()
    assert '| model | task | input |' in markdown and '| cmt-ti | cls | 64x64 |' in markdown
    with open(paths['csv']) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(result['rows'])
    assert all(float(r['median_ms']) > 0 for r in rows)
    loaded = json.load(open(paths['json']))
    assert set(loaded) == {'meta', 'targets', 'rows'}
    assert loaded['targets'][0]['name'] == 'repvit-m0.9'
    with open(paths['plot'], 'rb') as f:
        png = f.read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', png[16:24])
    assert (width, height) == (700, 500) and len(png) > 10000
    assert sorted(p.name for p in (tmp_path / 'bench').iterdir()) == sorted(
        osp.basename(p) for p in paths.values())  # no temporary files left


def test_zoo_rewrites_only_the_marked_region(result, tmp_path):
    readme = tmp_path / 'README.md'
    before, after = '# Title\n\nintro text\n', '\n## Next section\nkept | as | is\n'
    readme.write_text(f'{before}{ZOO_BEGIN}\nold hand-typed table\n{ZOO_END}{after}')
    update_readme_zoo(result, str(readme))
    text = readme.read_text()
    assert text.startswith(before + ZOO_BEGIN) and text.endswith(ZOO_END + after)
    region = text[text.index(ZOO_BEGIN):text.index(ZOO_END)]
    assert 'old hand-typed table' not in region
    assert '| repvit-m0.9 | 64x64 |' in region and '| cmt-ti | 64x64 |' in region
    assert f'({ZOO_PLOT})' in region
    with open(tmp_path / ZOO_PLOT, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    update_readme_zoo(result, str(readme))
    assert readme.read_text() == text  # regenerating the same result changes nothing

    readme.write_text('no markers here\n')
    with pytest.raises(ToolError, match='no model-zoo markers'):
        update_readme_zoo(result, str(readme))


def test_real_readme_has_zoo_markers():
    text = open(osp.join(REPO, 'README.md')).read()
    assert text.index(ZOO_BEGIN) < text.index(ZOO_END)


def test_dense_config_measures_whole_model():
    config = osp.join(REPO, 'configs/seg/fpn_repvit-m1.1_8xb4-40k_ade20k-512x512.py')
    result = run_benchmark([config], shape=(64, 64), batch_size=1, warmup=0, repeats=1, threads=1,
                           peak_size=64, progress=False)
    (target, ) = result['targets']
    assert target['task'] == 'seg' and target['macs'] > 0
    assert [r['candidate'] for r in result['rows']] == ['mmmobile unfused', 'mmmobile fused']
    assert result['rows'][1]['relative_error'] < 1e-4


@pytest.mark.parametrize('argv, message', [
    (['nosuch-9.9', '--out', 'OUT'], "unknown variant 'nosuch-9.9'"),
    (['missing/config.py', '--out', 'OUT'], 'config file not found'),
    (['cmt-ti', '--out', 'OUT', '--modes', 'eager'], 'unknown mode'),
    (['cmt-ti', '--out', 'OUT', '--repeats', '0'], 'must be positive'),
    (['cmt-ti', '--out', 'FILE'], 'is not a folder'),
    (['cmt-ti'], 'give --out DIR and/or --zoo'),
    (['cmt-ti', '--zoo', 'missing.md'], 'README not found'),
    (['--out', 'OUT'], 'nothing to benchmark'),
])
def test_cli_rejects_bad_input(argv, message, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  osp.join(REPO, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / 'FILE').write_text('')
    argv = [str(tmp_path / a) if a in ('OUT', 'FILE') else a for a in argv]
    assert tool.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('benchmark: error:') and message in err and '\n' not in err
    assert not (tmp_path / 'OUT').exists()

