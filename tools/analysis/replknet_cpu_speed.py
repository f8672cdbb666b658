#!/usr/bin/env python
"""Time RepLKNet on the CPU: mmmobile fused and unfused vs mmpretrain's deploy form."""
import argparse
import os
import sys

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch starts its threads


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Interleaved CPU latency of RepLKNet backbones (same weights, outputs '
        'checked to agree): mmmobile fused (default fast layout) and unfused, mmpretrain '
        'deploy form in NCHW and channels_last. Prints a markdown table with the ratio to '
        "mmpretrain's channels_last deploy model.")
    parser.add_argument('--arch', default='31B', choices=['31B', '31L', 'XL'])
    parser.add_argument('--size', type=int, default=224, help='input size (default 224)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed rounds (default 3)')
    parser.add_argument('--repeats', type=int, default=20, help='timed rounds (default 20)')
    parser.add_argument('--stock-ops', action='store_true',
                        help='also time the fused model with cpu_fast_path=False (stock ops)')
    parser.add_argument('--layout-table', action='store_true',
                        help='also measure the depthwise NCHW/channels_last time ratios '
                        '(forward, batch 1, 512 channels)')
    parser.add_argument('--train-layout-table', action='store_true',
                        help='also measure them for forward + backward (batch 2, 256 channels)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmmobile.benchmark.replknet_speed import layout_table, replknet_cpu_speed, speed_table
    if min(args.size, args.batch_size, args.threads, args.repeats) < 1 or args.warmup < 0:
        print('replknet_cpu_speed: error: sizes, counts and threads must be positive',
              file=sys.stderr)
        return 1
    try:
        result = replknet_cpu_speed(args.arch, args.size, args.batch_size, args.threads,
                                    args.warmup, args.repeats, args.stock_ops)
    except ImportError as error:
        print(f'replknet_cpu_speed: error: {error} (mmpretrain is needed for the comparison)',
              file=sys.stderr)
        return 1
    print(f"RepLKNet-{result['arch']}, input {result['batch_size']}x3x{result['input_size']}x"
          f"{result['input_size']}, {result['threads']} threads, torch {result['torch']}, "
          f"median of {result['repeats']} interleaved runs; 1-min load average "
          f"{result['load_before']:.2f} before, {result['load_after']:.2f} after")
    print()
    print(speed_table(result))
    if args.layout_table:
        print()
        print('Depthwise conv forward, NCHW time / channels_last time (>1: channels_last '
              f'faster), 512 channels, batch 1, {args.threads} threads:')
        print()
        print(layout_table(threads=args.threads))
    if args.train_layout_table:
        print()
        print('Depthwise conv forward + backward, NCHW time / channels_last time, 256 channels, '
              f'batch 2, {args.threads} threads:')
        print()
        print(layout_table(channels=256, repeats=3, threads=args.threads, backward=True,
                           batch_size=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
