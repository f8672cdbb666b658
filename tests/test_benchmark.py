"""The benchmark tool: variants from the registry, the candidates it measures and checks, its
files, the README zoo and README MACs, bad input.

Runs tiny variants at a small input with few repeats; no speed assertions.
"""
import copy
import csv
import importlib.util
import json
import math
import os.path as osp
import re
import struct

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmmobile.benchmark import (DEFAULT_MODES, MODES, command_line, list_variants,
                                run_benchmark, summarize, update_readme_zoo, write_outputs)
from mmmobile.benchmark.report import (CSV_COLUMNS, ZOO_BEGIN, ZOO_END, ZOO_PLOT,
                                       markdown_report)
from mmmobile.benchmark.runner import (DENSE_TRAIN_REASON, TRAIN_CANDIDATE, build_forms,
                                       model_complexity, resolve_targets)
from mmmobile.benchmark.timing import interleaved_latency, peak_memory
from mmmobile.benchmark.zoo import backbone_classes, find_variant
from mmmobile.utils import ToolError
from mmmobile.utils.io import MANIFEST_NAME

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
HAS_TIMM = importlib.util.find_spec('timm') is not None
LAYOUTS = {'NCHW', 'channels_last'}


@pytest.fixture(scope='module')
def result():
    """One small run: a RepViT (timm peer) and a CMT (no peer package) at 64x64."""
    return run_benchmark(['repvit-m0.9', 'cmt-ti'], shape=(64, 64), batch_size=2, warmup=0,
                         repeats=2, threads=1, peak_size=128, progress=False)


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  osp.join(REPO, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


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


def test_candidates_are_measured_and_agree(result):
    meta = result['meta']
    assert (meta['threads'], meta['batch_size'], meta['modes']) == (1, 2, list(DEFAULT_MODES))
    assert 'train' not in meta and not any(r.get('step') == 'train' for r in result['rows'])
    targets = {t['name']: t for t in result['targets']}
    assert list(targets) == ['repvit-m0.9', 'cmt-ti']
    for name, target in targets.items():
        assert target['params_fused'] < target['params']  # the folded BatchNorms are gone
        rows = [r for r in result['rows'] if r['target'] == name]
        ours = [r for r in rows if r['impl'] == 'mmmobile']
        fused = next(r for r in ours if r['candidate'] == 'mmmobile fused')
        other = (LAYOUTS - {fused['layout']}).pop()
        assert [r['candidate'] for r in ours] == [
            'mmmobile unfused', 'mmmobile fused', f'mmmobile fused, {other}',
            'mmmobile fused, TorchScript', 'mmmobile fused, ONNX Runtime']
        assert target['latency_ms'] == fused['median_ms'] and target['layout'] == fused['layout']
        for row in ours:  # fused, traced and exported models compute the unfused function
            assert row['relative_error'] < 1e-4, row
        for row in rows:
            assert row['batch_size'] == 2 and 'error' not in row, row
    assert 'no peer package' in targets['cmt-ti']['peer']
    assert 'ratio_to_peer' not in targets['cmt-ti']
    peers = [r for r in result['rows'] if r['impl'] == 'timm']
    if HAS_TIMM:  # random weights of its own: timed, not compared
        assert sorted(r['layout'] for r in peers) == sorted(LAYOUTS)
        assert all('relative_error' not in r for r in peers)
        assert 'ratio_to_peer' in targets['repvit-m0.9']
    else:
        assert not peers and 'timm is not installed' in targets['repvit-m0.9']['peer']


def test_outputs_are_well_formed(result, tmp_path):
    paths = write_outputs(result, str(tmp_path / 'bench'))
    markdown = open(paths['markdown']).read()
    assert '| model | task | input |' in markdown and '| cmt-ti | cls | 64x64 |' in markdown
    with open(paths['csv']) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [(r['target'], r['candidate']) for r in rows] == [
        (r['target'], r['candidate']) for r in result['rows']]
    for written, row in zip(rows, result['rows']):
        assert float(written['median_ms']) == pytest.approx(row['median_ms'])
        assert float(written['throughput']) == pytest.approx(row['throughput'])
        assert written['error'] == written['compile_s'] == ''
    assert json.load(open(paths['json'])) == json.loads(json.dumps(result))
    with open(paths['plot'], 'rb') as f:
        png = f.read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', png[16:24])
    assert (width, height) == (700, 500) and len(png) > 10000
    assert sorted(p.name for p in (tmp_path / 'bench').iterdir()) == sorted(
        [MANIFEST_NAME] + [osp.basename(p) for p in paths.values()])  # no temporary files left


def test_zoo_rewrites_only_the_marked_region_and_names_the_command(result, tmp_path):
    result = copy.deepcopy(result)
    result['meta']['command'] = command_line(['all', '--zoo', '--warmup', '2', '--repeats', '7'])
    readme = tmp_path / 'README.md'
    before, after = '# Title\n\nintro text\n', '\n## Next section\nkept | as | is\n'
    readme.write_text(f'{before}{ZOO_BEGIN}\nold hand-typed table\n{ZOO_END}{after}')
    update_readme_zoo(result, str(readme))
    text = readme.read_text()
    assert text.startswith(before + ZOO_BEGIN) and text.endswith(ZOO_END + after)
    region = text[text.index(ZOO_BEGIN):text.index(ZOO_END)]
    assert 'old hand-typed table' not in region
    assert ('Measured with `python tools/benchmark.py all --zoo --warmup 2 --repeats 7` on '
            in region)
    assert 'of 2 interleaved runs after 0 warm-up rounds' in region  # this run's own settings
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


def _readme_macs(family: str) -> dict:
    """``{variant: MACs cell}`` of the first table under the README's ``### family``."""
    text = open(osp.join(REPO, 'README.md')).read()
    lines = text[text.index(f'\n### {family}\n'):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('|'))
    table = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        table.append([c.strip() for c in line.strip('|').split('|')])
    column = table[0].index('MACs')
    macs = {}
    for cells in table[2:]:
        macs.setdefault(cells[0], cells[column])  # RepLKNet-31B: the 224 row comes first
    return macs


def _zoo_macs() -> dict:
    text = open(osp.join(REPO, 'README.md')).read()
    region = text[text.index(ZOO_BEGIN):text.index(ZOO_END)]
    return {m.group(1): m.group(2)
            for m in re.finditer(r'^\| ([\w.\-]+) \| \d+x\d+ \| [^|]+\|[^|]+\| ([\d.]+ G) \|',
                                 region, re.M)}


# The cheapest variant of each README table (MobileViTv3: v1- and v2-based), as
# (family, README variant cell, benchmark variant); RepLKNet's smallest counts 15 GMACs.
README_MACS = [('RepViT', 'M0.6', 'repvit-m0.6'), ('CMT', 'Ti', 'cmt-ti'),
               ('MobileViTv3', 'XXS', 'mobilevitv3-xxs'), ('MobileViTv3', '0.5', 'mobilevitv3-0.5')]


@pytest.mark.parametrize('family, cell, variant', README_MACS)
def test_readme_macs_are_the_fused_classifiers(family, cell, variant):
    """The MACs the README quotes (family table and zoo) are what the benchmark counts on the
    fused classifier at the variant's native resolution (mmengine's counter)."""
    (target, ) = resolve_targets([variant])
    _, _, fused = build_forms(target)
    cost = model_complexity(fused, torch.randn(1, 3, *target.input_size))
    quoted = f"{cost['macs'] / 1e9:.3f} G"
    assert _readme_macs(family)[cell] == quoted
    assert _zoo_macs()[variant] == quoted


def test_dense_config_measures_whole_model():
    config = osp.join(REPO, 'configs/seg/fpn_repvit-m1.1_8xb4-40k_ade20k-512x512.py')
    result = run_benchmark([config], shape=(64, 64), batch_size=1, warmup=0, repeats=1, threads=1,
                           modes=['unfused', 'fused', 'torchscript', 'compiled', 'train'],
                           peak_size=64, progress=False)
    (target, ) = result['targets']
    assert target['task'] == 'seg'
    # TorchScript and compiled models are classifier candidates only; training is a row saying
    # why it is not measured.
    assert [r['candidate'] for r in result['rows']] == ['mmmobile unfused', 'mmmobile fused',
                                                        TRAIN_CANDIDATE]
    assert result['rows'][1]['relative_error'] < 1e-4
    train = result['rows'][2]
    assert train['error'] == DENSE_TRAIN_REASON and 'batch_median_ms' not in train
    assert f'{TRAIN_CANDIDATE}: not measured (' in ' '.join(target['notes'])
    assert 'train_step_ms' not in target


REPLKNET_TINY = dict(large_kernel_sizes=[31, 29, 27, 13], layers=[1, 1, 2, 1],
                     channels=[32, 64, 128, 256], small_kernel=5, dw_ratio=1, ffn_ratio=4)
REPVIT_TINY = dict(channels=[8, 16, 24, 32], num_blocks=[1, 1, 1, 0])


def classifier_config(path, backbone: dict, head: dict) -> str:
    """A 10-class mmpretrain classifier config file (tiny archs keep the runs short)."""
    path.write_text(f"default_scope = 'mmpretrain'\nmodel = dict(type='ImageClassifier', "
                    f"backbone={backbone!r}, neck=dict(type='GlobalAveragePooling'), "
                    f"head={head!r})\n")
    return str(path)


def test_replknet_against_mmpretrain_and_a_failed_compile(tmp_path, monkeypatch):
    """mmpretrain's RepLKNet gets our weights and computes our function; a compiled model that
    cannot be built is a row saying why, and the rest is measured."""
    pytest.importorskip('mmpretrain')
    from mmmobile.benchmark import runner

    def no_compiler(model, x):
        raise RuntimeError('InvalidCxxCompiler: No working C++ compiler found')

    monkeypatch.setattr(runner, 'compile_model', no_compiler)
    config = classifier_config(
        tmp_path / 'replknet-tiny.py',
        dict(type='mmmobile.RepLKNet', arch=REPLKNET_TINY, out_indices=(3, ), final_norm=True),
        dict(type='LinearClsHead', num_classes=10, in_channels=256))
    result = run_benchmark([config], shape=(32, 32), batch_size=1, warmup=0, repeats=1,
                           threads=1, modes=['fused', 'compiled'], peak_size=64, progress=False)
    rows = {r['candidate']: r for r in result['rows']}
    fused = rows['mmmobile fused']
    other = (LAYOUTS - {fused['layout']}).pop()
    assert list(rows) == ['mmmobile fused', f'mmmobile fused, {other}',
                          'mmmobile fused, compiled', 'mmpretrain fused, NCHW',
                          'mmpretrain fused, channels_last']
    compiled = rows['mmmobile fused, compiled']
    assert compiled['error'] == ('RuntimeError: InvalidCxxCompiler: No working C++ compiler '
                                 'found')
    assert 'median_ms' not in compiled and 'compile_s' not in compiled
    for name in rows.keys() - {'mmmobile fused, compiled'}:
        assert rows[name]['relative_error'] < 1e-4, name
    (target, ) = result['targets']
    assert target['peer'].endswith('with our weights')
    assert 'mmmobile fused, compiled: not measured at batch 1 (RuntimeError: ' in ' '.join(
        target['notes'])
    report = markdown_report(result)
    assert '| mmmobile fused, compiled |' in report
    assert 'batch 1: RuntimeError: InvalidCxxCompiler' in report


@pytest.mark.parametrize('argv, message, code', [
    (['nosuch-9.9', '--out', 'OUT'], "unknown variant 'nosuch-9.9'", 2),
    (['missing/config.py', '--out', 'OUT'], 'config file not found', 2),
    (['cmt-ti', '--out', 'OUT', '--modes', 'eager'], "unknown mode(s) ['eager']", 2),
    (['cmt-ti', '--out', 'OUT', '--modes', 'fused,compiled,jit'], "unknown mode(s) ['jit']", 2),
    (['cmt-ti', '--out', 'OUT', '--modes', 'fused', 'training'], "unknown mode(s) ['training']",
     2),
    (['cmt-ti', '--out', 'OUT', '--repeats', '0'], 'must be positive', 2),
    (['cmt-ti', '--out', 'FILE'], 'is not a folder', None),  # the overwrite rule's exit code
    (['cmt-ti'], 'give --out DIR and/or --zoo', 2),
    (['cmt-ti', '--zoo', 'missing.md'], 'README not found', 2),
    (['--out', 'OUT'], 'nothing to benchmark', 2),
])
def test_cli_rejects_bad_input(argv, message, code, tmp_path, capsys):
    tool = load_tool()
    (tmp_path / 'FILE').write_text('')
    argv = [str(tmp_path / a) if a in ('OUT', 'FILE') else a for a in argv]
    status = tool.main(argv)
    assert status == code if code is not None else status != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith('benchmark: error:') and message in err and '\n' not in err
    assert not (tmp_path / 'OUT').exists()


def test_cli_modes_and_command_reach_the_results(tmp_path, capsys):
    """``--modes`` takes commas or spaces; the output names the command that produced it."""
    config = classifier_config(
        tmp_path / 'repvit-tiny.py',
        dict(type='mmmobile.RepViT', arch=REPVIT_TINY, out_indices=(3, )),
        dict(type='mmmobile.RepViTClsHead', num_classes=10, in_channels=32))
    argv = [config, '--shape', '32', '32', '--modes', 'unfused,fused', 'torchscript',
            '--batch-size', '1', '--warmup', '0', '--repeats', '1', '--threads', '1',
            '--gemm-size', '64', '--no-progress', '--out', str(tmp_path / 'out')]
    assert load_tool().main(argv) == 0
    saved = json.loads((tmp_path / 'out' / 'benchmark.json').read_text())
    assert saved['meta']['modes'] == ['unfused', 'fused', 'torchscript']
    assert saved['meta']['command'] == command_line(argv)
    assert [r['runtime'] for r in saved['rows']] == ['eager', 'eager', 'eager', 'torchscript']
    assert f"`{command_line(argv)}`" in capsys.readouterr().out


def test_cli_help_lists_every_mode(capsys):
    with pytest.raises(SystemExit):
        load_tool().parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    start = text.index('candidates of ours')
    modes_help = text[start:text.index('--no-peers', start)]
    for mode in MODES:
        assert re.search(rf'\b{mode}\b', modes_help), mode
    assert 'AdamW' in modes_help and 'peak memory' in modes_help


def test_peak_memory_counts_what_a_call_allocates():
    kept = []
    mib = 2**20
    # 1 MiB allocated and freed inside the call, then 0.25 MiB kept beyond it.
    assert mib <= peak_memory(lambda: torch.ones(mib // 4).sum()) < 1.1 * mib
    assert mib // 4 <= peak_memory(lambda: kept.append(torch.ones(mib // 16))) < 0.3 * mib
    assert peak_memory(lambda: None) < 1024


def test_train_mode_trains_a_copy(tmp_path, monkeypatch):
    """``--modes train``: a timed training step of a copy of the unfused classifier, with its
    peak memory; the model of the inference rows is untouched. The classifier distils from a
    teacher whose weights do not exist (as RepViT's configs without the user's RegNetY-160): its
    training step is the student's; mixup runs in the data preprocessor."""
    from mmmobile.benchmark import runner

    config = tmp_path / 'repvit-tiny-distill.py'
    config.write_text(
        "default_scope = 'mmpretrain'\n"
        f"model = dict(type='mmmobile.DistillationClassifier', backbone=dict("
        f"type='mmmobile.RepViT', arch={REPVIT_TINY!r}, out_indices=(3, )), "
        "neck=dict(type='GlobalAveragePooling'), head=dict(type='mmmobile.RepViTClsHead', "
        "num_classes=10, in_channels=32, loss=dict(type='LabelSmoothLoss', "
        "label_smooth_val=0.1, mode='original')), teacher=dict(type='ImageClassifier', "
        "backbone=dict(type='ResNet', depth=18)), "
        f"teacher_ckpt={str(tmp_path / 'missing.pth')!r}, distill_mode='hard', "
        "train_cfg=dict(augments=dict(type='Mixup', alpha=0.8)))\n")
    seen = {}
    x = torch.randn(1, 3, 32, 32)

    def build_forms_spy(target, device='cpu'):
        raw, unfused, fused = build_forms(target, device)
        with torch.no_grad():
            seen.update(raw=raw, state=copy.deepcopy(raw.state_dict()), fused=fused,
                        fused_out=fused(x))
        return raw, unfused, fused

    def training_step_spy(model, *args, **kwargs):
        seen['trained'] = model
        return training_step(model, *args, **kwargs)

    training_step = runner.training_step
    monkeypatch.setattr(runner, 'build_forms', build_forms_spy)
    monkeypatch.setattr(runner, 'training_step', training_step_spy)
    result = run_benchmark([str(config)], shape=(32, 32), batch_size=2, warmup=0, repeats=2,
                           threads=1, modes=['fused', 'train'], peers=False, peak_size=64,
                           progress=False)
    rows = {r['candidate']: r for r in result['rows']}
    train = rows[TRAIN_CANDIDATE]
    assert 'error' not in train and 'memory_error' not in train, train.get('error')
    assert train['batch_size'] == 2 and train['step'] == 'train'
    assert 0 < train['batch_median_ms'] < math.inf
    assert train['throughput'] == pytest.approx(2e3 / train['batch_median_ms'])
    weights_mb = sum(p.numel() * 4 for p in seen['raw'].parameters()) / 2**20
    # AdamW holds two moments per weight; the step's gradients come on top of that.
    assert 3 * weights_mb <= train['state_mb'] < 3.1 * weights_mb
    assert train['state_mb'] + weights_mb <= train['peak_mb'] < math.inf
    assert math.isfinite(train['loss']) and math.isfinite(train['first_loss'])
    assert 'profiler' in train['memory_method'] and 'AdamW' in train['optimizer']
    assert 'median_ms' not in train and 'relative_error' not in train
    (target, ) = result['targets']
    assert (target['train_step_ms'], target['train_peak_mb']) == (train['batch_median_ms'],
                                                                  train['peak_mb'])
    assert result['meta']['train']['memory'] == train['memory_method']

    # The copy trained in train mode; the model of the inference rows did not change.
    trained, raw = seen['trained'], seen['raw']
    assert trained is not raw and trained.training
    before = seen['state']
    params = dict(trained.named_parameters())
    changed = [k for k, p in params.items() if not torch.equal(p, before[k])]
    assert len(changed) > 0.9 * len(params)  # AdamW moved (nearly) every weight
    norms = {k: m for k, m in trained.named_modules() if isinstance(m, _BatchNorm)}
    assert norms and all(not torch.equal(m.running_mean, before[f'{k}.running_mean'])
                         for k, m in norms.items())  # BatchNorm in train mode
    for key, value in raw.state_dict().items():
        assert torch.equal(value, seen['state'][key]), key
    with torch.no_grad():
        assert torch.equal(seen['fused'](x), seen['fused_out'])
    assert rows['mmmobile fused']['relative_error'] < 1e-4

    report = markdown_report(result)
    assert '## Training step' in report and 'AdamW' in report
    assert f'| repvit-tiny-distill | {TRAIN_CANDIDATE} | 2 |' in report
    assert TRAIN_CANDIDATE not in report[report.index('## All candidates'):
                                         report.index('## Training step')]
    paths = write_outputs(result, str(tmp_path / 'bench'))
    with open(paths['csv']) as f:
        written = {r['candidate']: r for r in csv.DictReader(f)}
    assert float(written[TRAIN_CANDIDATE]['peak_mb']) == pytest.approx(train['peak_mb'])
