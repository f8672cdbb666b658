#!/usr/bin/env python
"""Fuse a model and export it to ONNX / TorchScript / CoreML, each verified against PyTorch."""
import argparse
import sys

from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Re-parameterize a classifier, detector or segmentor, write OUT/fused.pth + '
        'OUT/deploy_config.py (they load with tools/test.py) and export the requested formats '
        '(model.onnx, model.torchscript.pt, model.mlpackage), each verified against PyTorch '
        '(relative error <= 1e-4; CoreML: the saved spec, numerics need macOS).')
    parser.add_argument('config', help='classifier, detector or segmentor config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='trained checkpoint (default: export the initialized model)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--format', nargs='+', default=['onnx'], metavar='FORMAT',
                        help='any of onnx, torchscript, coreml (default: onnx)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='export input size (default 224 224)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='export batch size (default 1; CoreML always uses 1)')
    parser.add_argument('--dynamic', nargs='*', default=['batch', 'spatial'], metavar='AXIS',
                        help='ONNX axes to make dynamic where the model allows: batch, spatial '
                        '(default both; give no value for a static model)')
    parser.add_argument('--parts', default=None, metavar='PARTS',
                        help='what the exported model outputs: detectors "detections" (default: '
                        'dets (N, K, 5) x1 y1 x2 y2 score in input pixels, labels (N, K), masks '
                        '(N, K, M, M) RoI masks; NMS in the graph) or "features" (feature maps '
                        'and raw dense-head outputs); segmentors "logits" (default) or "labels" '
                        '(the argmax label map (N, H, W)); classifiers "logits"')
    parser.add_argument('--paste-masks', action='store_true',
                        help='instance segmentation: paste the masks into the input inside the '
                        'graph, masks (N, K, H, W) bool (for small inputs)')
    parser.add_argument('--fp16', action='store_true', help='CoreML in float16 (default float32)')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument('--exporter', choices=['legacy', 'dynamo'], default='legacy',
                        help='torch.onnx exporter (default legacy: TorchScript-based)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the checks against PyTorch')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the results in an existing output folder')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load a checkpoint that holds pickled objects (weights_only=False)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # Imported after parsing, so --help and argument errors answer at once.
    from mmmobile.deploy import deploy, summary_lines
    from mmmobile.engine import USER_ERRORS
    try:
        report = deploy(args.config, args.checkpoint, args.out, formats=args.format,
                        input_shape=tuple(args.shape), batch_size=args.batch_size,
                        dynamic=args.dynamic, fp16=args.fp16, opset=args.opset,
                        exporter=args.exporter, verify=not args.no_verify,
                        overwrite=args.overwrite, cfg_options=args.cfg_options,
                        trust_checkpoint=args.trust_checkpoint, parts=args.parts,
                        paste_masks=args.paste_masks)
    except USER_ERRORS as error:
        print(f'deploy: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    for line in summary_lines(report):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
