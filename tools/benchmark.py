#!/usr/bin/env python
"""Benchmark configs or registered variants: params, MACs, latency, throughput, peers, plot."""
import argparse
import os
import sys
import warnings
from typing import List, Optional

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch starts its threads
# mmengine 0.10.7 and mmcv import pkg_resources; its deprecation warning is noise here.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Measure mmmobile models: params and MACs (mmengine), latency at batch 1 '
        'and throughput at batch N for eager unfused / eager fused / TorchScript / ONNX Runtime '
        '/ torch.compile, timm\'s RepViT and mmpretrain\'s RepLKNet in NCHW and channels_last '
        'in the same interleaved loop, the fp32 GEMM peak and each model\'s fraction of it; '
        'optionally one training step per classifier (ms/step, img/s, peak memory). '
        'Writes benchmark.md, benchmark.csv, benchmark.json and latency_vs_top1.png into --out.',
        epilog='examples: benchmark.py repvit-m1.0 cmt-ti --out work_dirs/bench; '
        'benchmark.py all --zoo; benchmark.py replknet-31b --modes fused compiled --out DIR; '
        'benchmark.py cmt-ti --modes fused train --batch-size 16 --out DIR; '
        'benchmark.py configs/det/repvit_maskrcnn.py --out DIR')
    parser.add_argument('targets', nargs='*', metavar='CONFIG_OR_VARIANT',
                        help="config files, registered variant names (e.g. repvit-m1.0, "
                        "replknet-31b, cmt-ti, mobilevitv3-xxs) or 'all' for every variant")
    parser.add_argument('--out', help='output folder (required unless --zoo)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the results of an earlier benchmark in --out (other files '
                        'are never removed)')
    parser.add_argument('--zoo', nargs='?', const='README.md', metavar='README',
                        help='regenerate the model-zoo table between the markers of README '
                        '(default README.md) from these measurements')
    parser.add_argument('--list', action='store_true', help='list the variants and exit')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size for every target (default: native / test size)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='batch of the throughput run; 1 skips it (default 8)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch and ONNX Runtime threads (default: torch default)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed rounds (default 3)')
    parser.add_argument('--repeats', type=int, default=10, help='timed rounds (default 10)')
    parser.add_argument('--modes', nargs='+', default=None, metavar='MODE',
                        help='candidates of ours, space- or comma-separated: unfused, fused '
                        '(eager, both memory layouts), torchscript, onnxruntime, compiled '
                        '(torch.compile, inductor with freezing, of the fused model; its compile '
                        'time is reported; a failed compile, e.g. without a C++ compiler, is a row '
                        'saying why), train (one training step of a copy of the unfused '
                        'classifier at --batch-size in train mode: mmengine\'s train_step with '
                        'the config\'s data preprocessor and loss on random labels, backward, '
                        'AdamW lr 1e-3; ms/step, img/s and peak memory: torch.profiler memory '
                        'events on CPU, torch.cuda.max_memory_allocated on CUDA; detectors and '
                        'segmentors get a row saying why not). Default: all but compiled (it '
                        'compiles once per model and batch size, far longer than the timing '
                        'itself) and train')
    parser.add_argument('--no-peers', action='store_true', help='do not time peer packages')
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    parser.add_argument('--gemm-size', type=int, default=2048,
                        help='matrix side of the fp32 GEMM peak measurement (default 2048)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; user errors are reported in one line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    from mmmobile.benchmark import (DEFAULT_MODES, command_line, list_variants, run_benchmark,
                                    update_readme_zoo)
    from mmmobile.benchmark.report import markdown_report, summary_table, write_outputs
    from mmmobile.engine import USER_ERRORS

    if args.list:
        for variant in list_variants():
            print(f'{variant.name:20s} {variant.resolution:4d}  top-1 {variant.top1}  '
                  f'{variant.config or "(bare backbone)"}')
        return 0
    if not args.out and not args.zoo:
        print('benchmark: error: give --out DIR and/or --zoo', file=sys.stderr)
        return 2
    if args.out:  # before measuring: the overwrite rule of every tool
        from mmmobile.utils.io import check_output_folder
        try:
            check_output_folder(args.out, args.overwrite)
        except USER_ERRORS as error:
            print(f'benchmark: error: {error}', file=sys.stderr)
            return error.exit_code
    if args.zoo and not os.path.isfile(args.zoo):
        print(f'benchmark: error: README not found: {args.zoo}', file=sys.stderr)
        return 2
    modes = [m for word in args.modes for m in word.split(',') if m] if args.modes else \
        DEFAULT_MODES
    try:
        result = run_benchmark(args.targets, shape=args.shape, batch_size=args.batch_size,
                               modes=modes, peers=not args.no_peers,
                               threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                               device=args.device, peak_size=args.gemm_size,
                               progress=not args.no_progress)
        result['meta']['command'] = command_line(argv)
        if args.out:
            paths = write_outputs(result, args.out, overwrite=args.overwrite)
        if args.zoo:
            update_readme_zoo(result, args.zoo)
    except USER_ERRORS as error:
        print(f'benchmark: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    print(markdown_report(result) if args.out else summary_table(result))
    if args.out:
        print('wrote ' + ', '.join(paths.values()))
    if args.zoo:
        print(f'updated the model zoo in {args.zoo}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
