"""RepLKNet CPU latency: mmmobile (fused and unfused) against mmpretrain's deploy form.

All models get the same random weights (mmpretrain's RepLKNet has the official module names, as
ours), their outputs are checked to agree, and they are timed interleaved in one run
(:func:`~mmmobile.benchmark.timing.interleaved_latency`), so the ratios are fair on a shared
machine.
"""
import os
from typing import Dict, List, Optional, Union

import torch

from mmmobile.models.backbones.replknet import RepLKNet
from mmmobile.models.layers.large_kernel import measure_depthwise_layouts
from .runner import randomize_bn_statistics, relative_error
from .timing import interleaved_latency, markdown_table, median

REFERENCE = 'mmpretrain deploy, channels_last'


def replknet_cpu_speed(arch: Union[str, Dict] = '31B',
                       input_size: int = 224,
                       batch_size: int = 1,
                       threads: int = 2,
                       warmup: int = 3,
                       repeats: int = 20,
                       with_stock_ops: bool = False,
                       seed: int = 0) -> Dict:
    """Measure RepLKNet backbone latency on the CPU.

    Candidates (each returns the last stage's normalized output, as in a classifier):

    - ``mmmobile fused``: ``RepLKNet(...).switch_to_deploy()``, the default fast layout;
    - ``mmmobile unfused``: the training form in eval mode, default fast layout;
    - ``mmmobile fused, stock ops`` (only with ``with_stock_ops``): ``cpu_fast_path=False``,
      i.e. eager PyTorch in the default NCHW layout;
    - ``mmpretrain unmerged, channels_last``: mmpretrain's ``RepLKNet`` in its training form
      (the counterpart of our unfused model), model and input in channels_last;
    - ``mmpretrain deploy, NCHW`` and ``mmpretrain deploy, channels_last``: mmpretrain's
      ``RepLKNet(arch, small_kernel_merged=True)`` form (built directly from
      ``mmpretrain.models.backbones``; weights loaded from ours, then ``switch_to_deploy``),
      the second with model and input converted to channels_last.

    Args:
        arch (str | dict): '31B', '31L', 'XL' or an arch dict (see
            :class:`~mmmobile.models.RepLKNet`). Defaults to '31B'.
        input_size (int): Square input size. Defaults to 224.
        batch_size (int): Batch size. Defaults to 1.
        threads (int): ``torch.set_num_threads`` while timing. Defaults to 2.
        warmup (int): Untimed rounds. Defaults to 3.
        repeats (int): Timed rounds (candidates alternate inside each round). Defaults to 20.
        with_stock_ops (bool): Also time our fused model with ``cpu_fast_path=False``.
        seed (int): Seed of the random weights and input. Defaults to 0.

    Returns:
        dict: ``rows`` (list of dicts: name, median_ms, min_ms, ratio to the mmpretrain
        channels_last deploy model), ``max_relative_error`` (largest output difference between
        any candidate and our unfused model), ``load_before`` / ``load_after`` (1-minute load
        averages) and the settings.
    """
    from mmpretrain.models.backbones import RepLKNet as MMPretrainRepLKNet

    load_before = os.getloadavg()[0]
    torch.manual_seed(seed)
    unfused = RepLKNet(arch, out_indices=(3, ), final_norm=True)
    randomize_bn_statistics(unfused, seed)
    unfused.eval()
    fused = RepLKNet(arch, out_indices=(3, ), final_norm=True).eval()
    fused.load_state_dict(unfused.state_dict())
    fused.switch_to_deploy()

    if isinstance(arch, str):
        mmpretrain_args = dict(arch=arch)
    else:  # mmpretrain takes ffn_ratio as a constructor argument
        mmpretrain_args = dict(arch={k: v for k, v in unfused.arch.items() if k != 'ffn_ratio'},
                               ffn_ratio=unfused.arch['ffn_ratio'])

    def mmpretrain_model(deploy: bool = True) -> torch.nn.Module:
        model = MMPretrainRepLKNet(**mmpretrain_args, out_indices=(3, ))
        model.load_state_dict(unfused.state_dict())
        if deploy:
            model.switch_to_deploy()
        model.eval()  # mmpretrain's train() returns None: do not chain
        return model

    mmp_nchw = mmpretrain_model()
    mmp_cl = mmpretrain_model().to(memory_format=torch.channels_last)
    mmp_unmerged_cl = mmpretrain_model(deploy=False).to(memory_format=torch.channels_last)

    x = torch.randn(batch_size, 3, input_size, input_size,
                    generator=torch.Generator().manual_seed(seed))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    candidates = {
        'mmmobile fused': lambda: fused(x)[-1],
        'mmmobile unfused': lambda: unfused(x)[-1],
    }
    if with_stock_ops:
        stock = RepLKNet(arch, out_indices=(3, ), final_norm=True, deploy=True,
                         cpu_fast_path=False).eval()
        stock.load_state_dict(fused.state_dict())
        candidates['mmmobile fused, stock ops'] = lambda: stock(x)[-1]
    candidates['mmpretrain unmerged, channels_last'] = lambda: mmp_unmerged_cl(x_cl)[-1]
    candidates['mmpretrain deploy, NCHW'] = lambda: mmp_nchw(x)[-1]
    candidates[REFERENCE] = lambda: mmp_cl(x_cl)[-1]

    with torch.inference_mode():
        reference = unfused(x)[-1]
        errors = {name: relative_error(fn(), reference) for name, fn in candidates.items()}
    times = interleaved_latency(candidates, warmup=warmup, repeats=repeats, threads=threads)
    base = median(times[REFERENCE])
    rows: List[Dict] = [
        dict(name=name, median_ms=median(values), min_ms=min(values),
             ratio=median(values) / base, relative_error=errors[name])
        for name, values in times.items()
    ]
    return dict(rows=rows, max_relative_error=max(errors.values()), arch=arch,
                input_size=input_size, batch_size=batch_size, threads=threads, repeats=repeats,
                torch=torch.__version__, load_before=load_before, load_after=os.getloadavg()[0])


def speed_table(result: Dict) -> str:
    """Markdown table of a :func:`replknet_cpu_speed` result."""
    rows = [(row['name'], f"{row['median_ms']:.1f}", f"{row['min_ms']:.1f}",
             f"{row['ratio']:.2f}", f"{row['relative_error']:.1e}") for row in result['rows']]
    return markdown_table(
        ['model', 'median ms', 'min ms', f'ratio to {REFERENCE}', 'rel. err vs unfused'], rows)


def layout_table(kernel_sizes=(3, 5, 7, 9, 13, 17, 21, 27, 31), sizes=(7, 14, 28, 56),
                 channels: int = 512, repeats: int = 7, threads: Optional[int] = 2,
                 backward: bool = False, batch_size: int = 1) -> str:
    """Markdown table of :func:`measure_depthwise_layouts` (NCHW time / channels_last time).

    The defaults of the inference table in :mod:`mmmobile.models.layers.large_kernel`; the
    training table there was measured with ``backward=True, channels=256, batch_size=2,
    repeats=3``.
    """
    table = measure_depthwise_layouts(kernel_sizes, sizes, channels, repeats, threads, backward,
                                      batch_size)
    rows = [(kernel, *(f'{table[kernel][s]:.2f}' for s in sizes)) for kernel in kernel_sizes]
    return markdown_table(['kernel \\ map'] + [f'{s}x{s}' for s in sizes], rows)
