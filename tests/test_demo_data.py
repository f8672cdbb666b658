"""Tests of the synthetic demo datasets (mmmobile.datasets.demo_data, tools/make_demo_data.py)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmmobile.datasets import (CLASSES, MANIFEST_NAME, SEG_CLASSES, SEG_PALETTE, make_ade_demo,
                               make_coco_demo, make_demo_data, make_imagenet_demo)
from mmmobile.datasets import demo_data

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'make_demo_data.py')
SIZES = dict(det_num_train=8, det_num_val=4, seg_num_train=6, seg_num_val=3, cls_num_train=9,
             cls_num_val=6)


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    """A tiny demo set of all three tasks (default image sizes)."""
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    results = make_demo_data(root, seed=0, progress=False, **SIZES)
    return root, results


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _files(folder, ext):
    return sorted(f for f in os.listdir(folder) if f.endswith(ext))


def _leftovers(folder):
    return [n for n in os.listdir(folder) if '.tmp-' in n or '.old-' in n]


def _shape_label(mask):
    """Recognize a shape from its pixels: 1 circle, 2 square, 3 triangle.

    The ratio of the shape's area to the area of its minimum enclosing circle is about 1 for a
    circle, 2 / pi = 0.64 for a square and 1.3 / pi = 0.41 for an equilateral triangle.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    _, radius = cv2.minEnclosingCircle(max(contours, key=len))
    ratio = mask.sum() / (np.pi * (radius + 0.5)**2)
    return 1 if ratio > 0.76 else 2 if ratio > 0.54 else 3


# ------------------------------------------------------------------------------------------------
# layouts and content
# ------------------------------------------------------------------------------------------------
def test_layouts_and_counts(demo_root):
    root, results = demo_root
    assert set(results) == {'det', 'seg', 'cls'}
    assert not _leftovers(root)

    coco = osp.join(root, 'coco')
    assert results['det']['root'] == coco and results['det']['skipped'] is False
    for split, num in (('train', 8), ('val', 4)):
        ann = _load_json(osp.join(coco, 'annotations', f'instances_{split}2017.json'))
        names = _files(osp.join(coco, f'{split}2017'), '.jpg')
        assert len(names) == num == len(ann['images'])
        assert names == sorted(img['file_name'] for img in ann['images'])
        img = cv2.imread(osp.join(coco, f'{split}2017', names[0]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (256, 256, 3) and img.dtype == np.uint8

    ade = osp.join(root, 'ade', 'ADEChallengeData2016')
    for folder, num in (('training', 6), ('validation', 3)):
        jpgs = _files(osp.join(ade, 'images', folder), '.jpg')
        pngs = _files(osp.join(ade, 'annotations', folder), '.png')
        assert len(jpgs) == num
        assert [osp.splitext(n)[0] for n in jpgs] == [osp.splitext(n)[0] for n in pngs]
        label = cv2.imread(osp.join(ade, 'annotations', folder, pngs[0]), cv2.IMREAD_UNCHANGED)
        assert label.shape == (128, 128) and label.dtype == np.uint8
        img = cv2.imread(osp.join(ade, 'images', folder, jpgs[0]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (128, 128, 3)

    imagenet = osp.join(root, 'imagenet')
    with open(osp.join(imagenet, 'meta', 'classes.txt')) as f:
        assert tuple(f.read().split()) == CLASSES
    for split, num in (('train', 9), ('val', 6)):
        assert sorted(os.listdir(osp.join(imagenet, split))) == list(CLASSES)
        with open(osp.join(imagenet, 'meta', f'{split}.txt')) as f:
            lines = [line.split() for line in f.read().splitlines()]
        assert len(lines) == num
        for rel, label in lines:
            assert rel.endswith('.JPEG') and rel.split('/')[0] == CLASSES[int(label)]
            assert osp.isfile(osp.join(imagenet, split, rel))
        on_disk = sum(len(os.listdir(osp.join(imagenet, split, c))) for c in CLASSES)
        assert on_disk == num
        assert results['cls'][f'num_{split}_per_class'] == {c: num // 3 for c in CLASSES}
    img = cv2.imread(osp.join(imagenet, 'train', lines[0][0]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (64, 64, 3)


def test_coco_annotations_are_consistent(demo_root):
    from pycocotools import mask as mask_utils
    root, results = demo_root
    image_ids, ann_ids = [], []
    for split in ('train', 'val'):
        ann = _load_json(osp.join(root, 'coco', 'annotations', f'instances_{split}2017.json'))
        assert [(c['id'], c['name']) for c in ann['categories']] == [(1, 'circle'), (2, 'square'),
                                                                     (3, 'triangle')]
        assert results['det'][f'num_{split}_instances'] == len(ann['annotations'])
        image_ids += [img['id'] for img in ann['images']]
        ann_ids += [a['id'] for a in ann['annotations']]
        per_image = {img['id']: [] for img in ann['images']}
        for a in ann['annotations']:
            per_image[a['image_id']].append(a)
        for img in ann['images']:
            anns = per_image[img['id']]
            assert 1 <= len(anns) <= 4
            h, w = img['height'], img['width']
            image = cv2.imread(osp.join(root, 'coco', f'{split}2017', img['file_name']))
            union = np.zeros((h, w), np.int32)
            for a in anns:
                assert a['iscrowd'] == 0 and a['category_id'] in (1, 2, 3)
                assert isinstance(a['segmentation'], list) and len(a['segmentation']) == 1
                poly = a['segmentation'][0]
                assert len(poly) >= 6 and len(poly) % 2 == 0
                rle = mask_utils.merge(mask_utils.frPyObjects(a['segmentation'], h, w))
                mask = mask_utils.decode(rle)
                union += mask
                drawn = demo_data._polygon_mask(np.array(poly).reshape(-1, 2), h)
                iou = (drawn & mask.astype(bool)).sum() / (drawn | mask.astype(bool)).sum()
                assert iou > 0.95  # the painted shape matches pycocotools' mask of the polygon
                assert _shape_label(mask) == a['category_id']
                # area from the mask, bbox of the polygon agrees with the mask's box
                assert a['area'] == pytest.approx(mask.sum())
                x, y, bw, bh = a['bbox']
                mx, my, mw, mh = mask_utils.toBbox(rle)
                assert np.allclose([x, y, x + bw, y + bh], [mx, my, mx + mw, my + mh], atol=2)
                assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
                assert 20 <= max(bw, bh) <= 112  # "30-110 px" extents (triangles are smaller)
                # the shape is drawn where the mask is: uniform inside, different around it
                inner = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)
                ring = cv2.dilate(mask, np.ones((7, 7), np.uint8)).astype(bool) & ~cv2.dilate(
                    mask, np.ones((3, 3), np.uint8)).astype(bool)
                inside = image[inner].astype(np.float64)
                assert inside.std(0).max() < 12
                assert np.abs(inside.mean(0) - image[ring].mean(0)).sum() > 40
            assert union.max() == 1, 'shapes overlap'
    assert len(set(image_ids)) == len(image_ids)
    assert len(set(ann_ids)) == len(ann_ids)


def test_shapes_are_not_colour_coded(demo_root):
    root, _ = demo_root
    ann = _load_json(osp.join(root, 'coco', 'annotations', 'instances_train2017.json'))
    from pycocotools import mask as mask_utils
    colours = {c: [] for c in (1, 2, 3)}
    images = {img['id']: img for img in ann['images']}
    for a in ann['annotations']:
        img = images[a['image_id']]
        image = cv2.imread(osp.join(root, 'coco', 'train2017', img['file_name']))
        mask = mask_utils.decode(mask_utils.merge(
            mask_utils.frPyObjects(a['segmentation'], img['height'], img['width'])))
        colours[a['category_id']].append(image[mask.astype(bool)].mean(0))
    for values in colours.values():
        if len(values) >= 2:  # the same class appears in clearly different colours
            values = np.array(values)
            assert np.ptp(values, axis=0).max() > 40


def test_seg_labels_match_images(demo_root):
    root, results = demo_root
    ade = osp.join(root, 'ade', 'ADEChallengeData2016')
    total = np.zeros(4, np.int64)
    for folder in ('training', 'validation'):
        for name in _files(osp.join(ade, 'annotations', folder), '.png'):
            label = cv2.imread(osp.join(ade, 'annotations', folder, name), cv2.IMREAD_UNCHANGED)
            assert set(np.unique(label)) <= {0, 1, 2, 3} and label.max() > 0
            total += np.bincount(label.reshape(-1), minlength=4)
            image = cv2.imread(osp.join(ade, 'images', folder, name[:-4] + '.jpg'))
            # connected foreground components are single-coloured shapes
            num, comps = cv2.connectedComponents((label > 0).astype(np.uint8))
            assert 2 <= num <= 5
            for k in range(1, num):
                comp = (comps == k).astype(np.uint8)
                values = np.unique(label[comp.astype(bool)])
                assert len(values) == 1 and values[0] == _shape_label(comp)
                inner = cv2.erode(comp, np.ones((5, 5), np.uint8)).astype(bool)
                if inner.sum() > 20:
                    assert image[inner].astype(np.float64).std(0).max() < 12
    assert results['seg']['pixels_per_label'] == {i: int(n) for i, n in enumerate(total)}


# ------------------------------------------------------------------------------------------------
# loading with the real OpenMMLab dataset classes
# ------------------------------------------------------------------------------------------------
def test_coco_loads_with_mmdet(demo_root):
    from mmdet.datasets import CocoDataset
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets.transforms import LoadAnnotations
    root, _ = demo_root
    coco = osp.join(root, 'coco')
    for split, num in (('train', 8), ('val', 4)):
        dataset = CocoDataset(
            data_root=coco, ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'), metainfo=dict(classes=CLASSES),
            test_mode=split == 'val', pipeline=[])
        assert len(dataset) == num
        assert dataset.metainfo['classes'] == CLASSES
        labels = set()
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert osp.isfile(info['img_path'])
            assert 1 <= len(info['instances']) <= 4
            results = LoadImageFromFile()(dict(info))
            assert results['img'].shape == (256, 256, 3)
            results = LoadAnnotations(with_bbox=True, with_mask=True)(results)
            masks = results['gt_masks'].to_ndarray()
            assert masks.shape == (len(info['instances']), 256, 256)
            assert masks.sum(0).max() == 1
            boxes = results['gt_bboxes'].tensor.numpy()
            for mask, box in zip(masks, boxes):
                ys, xs = np.nonzero(mask)
                assert np.allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box,
                                   atol=2)
            labels.update(results['gt_bboxes_labels'].tolist())
        assert labels <= {0, 1, 2}


def test_coco_ground_truth_scores_ap_1(demo_root):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    root, _ = demo_root
    gt = COCO(osp.join(root, 'coco', 'annotations', 'instances_val2017.json'))
    dets = []
    for a in gt.dataset['annotations']:
        rle = gt.annToRLE(a)
        rle['counts'] = rle['counts'].decode()
        dets.append(dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                         segmentation=rle, score=1.0))
    assert dets and mask_utils.area(gt.annToRLE(gt.dataset['annotations'][0])) > 0
    for iou_type in ('bbox', 'segm'):
        evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)


def test_ade_loads_with_mmseg(demo_root):
    from mmseg.datasets import ADE20KDataset, BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations
    root, _ = demo_root
    data_root = osp.join(root, 'ade', 'ADEChallengeData2016')
    for folder, num in (('training', 6), ('validation', 3)):
        dataset = BaseSegDataset(
            data_root=data_root, img_suffix='.jpg', seg_map_suffix='.png',
            data_prefix=dict(img_path=f'images/{folder}', seg_map_path=f'annotations/{folder}'),
            metainfo=dict(classes=SEG_CLASSES, palette=SEG_PALETTE), reduce_zero_label=True,
            pipeline=[])
        assert len(dataset) == num
        assert dataset.metainfo['classes'] == SEG_CLASSES
        seen = set()
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert info['reduce_zero_label'] is True
            raw = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
            gt = LoadAnnotations()(dict(info))['gt_seg_map']
            expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
            assert np.array_equal(gt, expected)
            seen.update(np.unique(gt).tolist())
        assert seen <= {0, 1, 2, 255} and 255 in seen and len(seen) >= 2
        # the stock ADE20K class (150 ADE classes, suffixes .jpg/.png) finds the same samples
        ade = ADE20KDataset(
            data_root=data_root, pipeline=[],
            data_prefix=dict(img_path=f'images/{folder}', seg_map_path=f'annotations/{folder}'))
        assert len(ade) == num
    # documented in demo_data: ADE20KDataset only accepts subsets of its 150 class names, so demo
    # configs must use BaseSegDataset for the three shape classes
    with pytest.raises(ValueError, match='not a subset'):
        ADE20KDataset(data_root=data_root, metainfo=dict(classes=SEG_CLASSES), pipeline=[],
                      data_prefix=dict(img_path='images/training',
                                       seg_map_path='annotations/training'))


def test_imagenet_loads_with_mmpretrain(demo_root):
    from mmpretrain.datasets import CustomDataset, ImageNet
    root, _ = demo_root
    imagenet = osp.join(root, 'imagenet')
    for split, num in (('train', 9), ('val', 6)):
        with open(osp.join(imagenet, 'meta', f'{split}.txt')) as f:
            expected = {line.split()[0]: int(line.split()[1]) for line in f}
        by_folder = CustomDataset(data_root=imagenet, data_prefix=split, pipeline=[])
        by_file = CustomDataset(data_root=imagenet, data_prefix=split,
                                ann_file=f'meta/{split}.txt',
                                metainfo=dict(classes=CLASSES), pipeline=[])
        # the way mmpretrain's ImageNet configs address the data
        imagenet_style = ImageNet(data_root=imagenet, data_prefix=split,
                                  ann_file=f'meta/{split}.txt', metainfo=dict(classes=CLASSES),
                                  pipeline=[])
        by_split = ImageNet(data_root=imagenet, split=split, metainfo=dict(classes=CLASSES),
                            pipeline=[])
        for dataset in (by_folder, by_file, imagenet_style, by_split):
            assert len(dataset) == num
            assert tuple(dataset.CLASSES) == CLASSES
            for i in range(len(dataset)):
                info = dataset.get_data_info(i)
                rel = osp.relpath(info['img_path'], osp.join(imagenet, split)).replace(os.sep, '/')
                assert expected[rel] == int(info['gt_label'])
                assert osp.isfile(info['img_path'])


# ------------------------------------------------------------------------------------------------
# determinism, reruns, atomicity, validation
# ------------------------------------------------------------------------------------------------
def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            out[osp.relpath(path, root)] = _read(path)
    return out


def test_same_seed_is_byte_identical(tmp_path, demo_root):
    root, _ = demo_root
    again = str(tmp_path / 'again')
    make_demo_data(again, seed=0, progress=False, **SIZES)
    first, second = _tree_bytes(root), _tree_bytes(again)
    assert sorted(first) == sorted(second)
    for rel in ('coco/annotations/instances_train2017.json',
                'coco/annotations/instances_val2017.json', 'imagenet/meta/train.txt'):
        assert first[rel] == second[rel], rel
    assert first == second  # images, label maps and manifests too

    other = str(tmp_path / 'other')
    make_demo_data(other, tasks=['det', 'seg'], seed=1, progress=False, **SIZES)
    rel = 'coco/annotations/instances_train2017.json'
    assert _read(osp.join(other, rel)) != first[rel]
    png = 'ade/ADEChallengeData2016/annotations/training/000001.png'
    assert _read(osp.join(other, png)) != first[png]


def test_val_split_does_not_depend_on_num_train(tmp_path):
    a = make_ade_demo(str(tmp_path / 'a'), num_train=2, num_val=2, seed=3, progress=False)
    b = make_ade_demo(str(tmp_path / 'b'), num_train=5, num_val=2, seed=3, progress=False)
    val = 'ADEChallengeData2016/annotations/validation'
    assert _tree_bytes(osp.join(a['root'], val)) == _tree_bytes(osp.join(b['root'], val))


def test_rerun_keeps_identical_data_and_refuses_different(tmp_path):
    out = str(tmp_path / 'cls')
    first = make_imagenet_demo(out, num_train=3, num_val=3, progress=False)
    assert first['skipped'] is False and osp.isfile(osp.join(out, MANIFEST_NAME))
    before = _tree_bytes(out)
    mtime = os.stat(osp.join(out, 'meta', 'train.txt')).st_mtime_ns
    again = make_imagenet_demo(out, num_train=3, num_val=3, progress=False)
    assert again['skipped'] is True and again['num_train'] == 3
    assert os.stat(osp.join(out, 'meta', 'train.txt')).st_mtime_ns == mtime

    with pytest.raises(FileExistsError, match='seed=0.*requested seed=1'):
        make_imagenet_demo(out, num_train=3, num_val=3, seed=1, progress=False)
    assert _tree_bytes(out) == before
    replaced = make_imagenet_demo(out, num_train=3, num_val=3, seed=1, overwrite=True,
                                  progress=False)
    assert replaced['skipped'] is False and _tree_bytes(out) != before
    assert not _leftovers(str(tmp_path))

    # a modified folder is no longer "up to date"
    os.remove(osp.join(out, 'meta', 'classes.txt'))
    with pytest.raises(FileExistsError, match='added or removed'):
        make_imagenet_demo(out, num_train=3, num_val=3, seed=1, progress=False)
    # a foreign folder is never replaced without overwrite
    foreign = tmp_path / 'demo' / 'coco'
    foreign.mkdir(parents=True)
    (foreign / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not created by make_demo_data'):
        make_demo_data(str(tmp_path / 'demo'), tasks=['cls', 'det'], num_train=3, num_val=3,
                       progress=False)
    # nothing was written: the conflict is found before any task is generated
    assert sorted(os.listdir(tmp_path / 'demo')) == ['coco']


def test_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    calls = []
    real_encode = demo_data._encode

    def failing_encode(img, ext):
        calls.append(ext)
        if len(calls) > 3:
            raise RuntimeError('disk full')
        return real_encode(img, ext)

    monkeypatch.setattr(demo_data, '_encode', failing_encode)
    out = tmp_path / 'demo'
    with pytest.raises(RuntimeError, match='disk full'):
        make_demo_data(str(out), tasks=['seg'], num_train=4, num_val=2, progress=False)
    assert not out.exists()  # neither the task folder nor its temporary sibling is left

    # an existing folder survives a failed overwrite unchanged
    monkeypatch.setattr(demo_data, '_encode', real_encode)
    make_demo_data(str(out), tasks=['seg'], num_train=2, num_val=1, progress=False)
    before = _tree_bytes(str(out))
    calls.clear()
    monkeypatch.setattr(demo_data, '_encode', failing_encode)
    with pytest.raises(RuntimeError):
        make_demo_data(str(out), tasks=['seg'], seed=5, num_train=4, num_val=2, overwrite=True,
                       progress=False)
    assert _tree_bytes(str(out)) == before
    assert not _leftovers(str(out))


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_train=0), 'num_train must be between 1'),
    (dict(det_num_val=-2), 'num_val must be between 1'),
    (dict(img_size=16), 'img_size must be between 32'),
    (dict(num_train=2.5), 'num_train must be an integer'),
    (dict(num_train=True), 'num_train must be an integer'),
    (dict(seed=-1), 'seed must be between 0'),
    (dict(tasks=['det', 'pose']), 'unknown task'),
    (dict(tasks=[]), 'no task selected'),
    (dict(num_images=3), 'unknown size argument'),
])
def test_invalid_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_demo_data(str(tmp_path / 'demo'), progress=False, **kwargs)
    assert not (tmp_path / 'demo').exists()


def test_single_task_functions_use_their_own_folder(tmp_path):
    info = make_coco_demo(str(tmp_path / 'c'), num_train=2, num_val=1, img_size=96,
                          progress=False)
    assert info['root'] == str(tmp_path / 'c') and info['num_val'] == 1
    ann = _load_json(osp.join(info['root'], 'annotations', 'instances_val2017.json'))
    assert ann['images'][0]['width'] == 96 and ann['images'][0]['id'] == 3


# ------------------------------------------------------------------------------------------------
# command line tool
# ------------------------------------------------------------------------------------------------
def _run_tool(*args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_WAIT_POLICY='PASSIVE')
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


def test_cli_help():
    proc = _run_tool('--help')
    assert proc.returncode == 0
    for option in ('--out', '--seed', '--tasks', '--num-train', '--num-val', '--img-size',
                   '--overwrite'):
        assert option in proc.stdout


def test_cli_generates_and_refuses_conflicts(tmp_path):
    out = str(tmp_path / 'demo')
    proc = _run_tool('--out', out, '--tasks', 'cls', 'det', '--num-train', '3', 'det=2',
                     '--num-val', '2', '--img-size', 'det=64', '--no-progress')
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ['coco', 'imagenet']
    ann = _load_json(osp.join(out, 'coco', 'annotations', 'instances_train2017.json'))
    assert len(ann['images']) == 2 and ann['images'][0]['width'] == 64
    assert len(os.listdir(osp.join(out, 'imagenet', 'train', 'circle'))) == 1

    proc = _run_tool('--out', out, '--tasks', 'cls', '--num-train', '3', '--num-val', '2',
                     '--seed', '7', '--no-progress')
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and '--overwrite' in errors[0] and 'seed=0' in errors[0]

    assert sorted(os.listdir(out)) == ['coco', 'imagenet']


def test_cli_argument_errors(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_demo_data_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'demo')
    with pytest.raises(SystemExit) as exc:
        tool.main(['--out', out, '--num-train', 'many'])
    assert exc.value.code == 2 and "'many' is not an integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(['--out', out, '--img-size', 'pose=64'])
    assert "unknown task 'pose'" in capsys.readouterr().err
    assert tool.main(['--out', out, '--tasks', 'seg', '--num-val', '0']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['make_demo_data: error: seg num_val must be between 1 and 1000000, got 0']
    assert tool.main(['--out', out, '--seed', '-3']) == 1
    assert 'seed must be between 0' in capsys.readouterr().err
    assert not os.path.exists(out)
    assert tool.sizes_from_args(tool.parse_args(['--num-train', '5', 'det=7', '--img-size',
                                                 'cls=96'])) == dict(num_train=5,
                                                                     det_num_train=7,
                                                                     cls_img_size=96)
