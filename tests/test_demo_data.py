"""Tests of the synthetic demo datasets (mmmobile.demo.data, tools/make_demo_data.py)."""
import hashlib
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmmobile.demo import CLASSES, MARKER, make_demo_data
from mmmobile.demo import data as demo_data
from mmmobile.utils import ToolError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIZES = dict(det_num_train=8, det_num_val=4, seg_num_train=6, seg_num_val=3, cls_num_train=9,
             cls_num_val=6)


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    """A tiny demo set of all three tasks (default image sizes)."""
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    assert make_demo_data(root, progress=False, **SIZES) == dict(det='written', seg='written',
                                                                 cls='written')
    return root


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _files(folder, ext):
    return sorted(f for f in os.listdir(folder) if f.endswith(ext))


def _tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            with open(osp.join(dirpath, name), 'rb') as f:
                out[osp.relpath(osp.join(dirpath, name), root)] = f.read()
    return out


def _coco_mask(segmentation, h, w):
    from pycocotools import mask as mask_utils
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w)))


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


def test_layouts(demo_root):
    assert sorted(os.listdir(demo_root)) == ['ade', 'coco', 'imagenet']
    coco = osp.join(demo_root, 'coco')
    for split, num in (('train', 8), ('val', 4)):
        ann = _load_json(osp.join(coco, 'annotations', f'instances_{split}2017.json'))
        names = _files(osp.join(coco, f'{split}2017'), '.jpg')
        assert len(names) == num == len(ann['images'])
        assert names == sorted(img['file_name'] for img in ann['images'])
        assert cv2.imread(osp.join(coco, f'{split}2017', names[0])).shape == (256, 256, 3)

    ade = osp.join(demo_root, 'ade', 'ADEChallengeData2016')
    for folder, num in (('training', 6), ('validation', 3)):
        jpgs = _files(osp.join(ade, 'images', folder), '.jpg')
        pngs = _files(osp.join(ade, 'annotations', folder), '.png')
        assert [n[:-4] for n in jpgs] == [n[:-4] for n in pngs] == [f'{i:06d}' for i in
                                                                    range(1, num + 1)]
        label = cv2.imread(osp.join(ade, 'annotations', folder, pngs[0]), cv2.IMREAD_UNCHANGED)
        assert label.shape == (128, 128) and label.dtype == np.uint8

    imagenet = osp.join(demo_root, 'imagenet')
    with open(osp.join(imagenet, 'meta', 'classes.txt')) as f:
        assert tuple(f.read().split()) == CLASSES
    for split, num in (('train', 9), ('val', 6)):
        assert sorted(os.listdir(osp.join(imagenet, split))) == list(CLASSES)
        with open(osp.join(imagenet, 'meta', f'{split}.txt')) as f:
            lines = [line.split() for line in f.read().splitlines()]
        assert [int(label) for _, label in lines] == [i % 3 for i in range(num)]
        for rel, label in lines:
            assert rel.split('/')[0] == CLASSES[int(label)] and rel.endswith('.JPEG')
        assert sum(len(os.listdir(osp.join(imagenet, split, c))) for c in CLASSES) == num
    assert cv2.imread(osp.join(imagenet, 'train', lines[0][0])).shape == (64, 64, 3)


def test_coco_annotations_match_the_images(demo_root):
    image_ids, ann_ids, colours = [], [], {1: [], 2: [], 3: []}
    for split in ('train', 'val'):
        ann = _load_json(osp.join(demo_root, 'coco', 'annotations', f'instances_{split}2017.json'))
        assert [(c['id'], c['name']) for c in ann['categories']] == [(1, 'circle'), (2, 'square'),
                                                                     (3, 'triangle')]
        image_ids += [img['id'] for img in ann['images']]
        ann_ids += [a['id'] for a in ann['annotations']]
        for img in ann['images']:
            anns = [a for a in ann['annotations'] if a['image_id'] == img['id']]
            assert 1 <= len(anns) <= 4
            h, w = img['height'], img['width']
            image = cv2.imread(osp.join(demo_root, 'coco', f'{split}2017', img['file_name']))
            union = np.zeros((h, w), np.int32)
            for a in anns:
                assert a['iscrowd'] == 0 and len(a['segmentation']) == 1
                mask = _coco_mask(a['segmentation'], h, w)
                union += mask
                poly = np.array(a['segmentation'][0]).reshape(-1, 2)
                drawn = demo_data._polygon_mask(poly, h)
                assert (drawn & mask.astype(bool)).sum() / (drawn | mask.astype(bool)).sum() > 0.95
                assert _shape_label(mask) == a['category_id']
                assert a['area'] == pytest.approx(mask.sum())
                x, y, bw, bh = a['bbox']
                ys, xs = np.nonzero(mask)
                assert np.allclose([x, y, x + bw, y + bh],
                                   [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=2)
                assert 20 <= max(bw, bh) <= 112  # 12%-43% of the side (triangles are smaller)
                # the shape is painted where the mask is: uniform inside, different around it
                inner = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)
                ring = cv2.dilate(mask, np.ones((7, 7), np.uint8)).astype(bool) & ~cv2.dilate(
                    mask, np.ones((3, 3), np.uint8)).astype(bool)
                inside = image[inner].astype(np.float64)
                assert inside.std(0).max() < 12
                assert np.abs(inside.mean(0) - image[ring].mean(0)).sum() > 40
                colours[a['category_id']].append(inside.mean(0))
            assert union.max() == 1, 'shapes overlap'
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids)
    for values in colours.values():  # a class comes in clearly different colours
        assert len(values) < 2 or np.ptp(np.array(values), axis=0).max() > 40


def test_seg_labels_match_the_images(demo_root):
    ade = osp.join(demo_root, 'ade', 'ADEChallengeData2016')
    for folder in ('training', 'validation'):
        for name in _files(osp.join(ade, 'annotations', folder), '.png'):
            label = cv2.imread(osp.join(ade, 'annotations', folder, name), cv2.IMREAD_UNCHANGED)
            image = cv2.imread(osp.join(ade, 'images', folder, name[:-4] + '.jpg'))
            num, comps = cv2.connectedComponents((label > 0).astype(np.uint8))
            assert set(np.unique(label)) <= {0, 1, 2, 3} and 2 <= num <= 5
            for k in range(1, num):  # each component is one single-coloured, recognizable shape
                comp = (comps == k).astype(np.uint8)
                values = np.unique(label[comp.astype(bool)])
                assert len(values) == 1 and values[0] == _shape_label(comp)
                inner = cv2.erode(comp, np.ones((5, 5), np.uint8)).astype(bool)
                if inner.sum() > 20:
                    assert image[inner].astype(np.float64).std(0).max() < 12


def test_loads_with_the_toolboxes(demo_root):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations as LoadDetAnnotations
    from mmpretrain.datasets import CustomDataset, ImageNet
    from mmseg.datasets import ADE20KDataset, BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations as LoadSegAnnotations

    coco = CocoDataset(data_root=osp.join(demo_root, 'coco'),
                       ann_file='annotations/instances_train2017.json',
                       data_prefix=dict(img='train2017/'), metainfo=dict(classes=CLASSES),
                       pipeline=[])
    assert len(coco) == 8
    for i in range(len(coco)):
        results = LoadDetAnnotations(with_bbox=True, with_mask=True)(
            LoadImageFromFile()(dict(coco.get_data_info(i))))
        masks = results['gt_masks'].to_ndarray()
        assert masks.sum(0).max() == 1 and set(results['gt_bboxes_labels'].tolist()) <= {0, 1, 2}
        for mask, box in zip(masks, results['gt_bboxes'].tensor.numpy()):
            ys, xs = np.nonzero(mask)
            assert np.allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box, atol=2)

    data_root = osp.join(demo_root, 'ade', 'ADEChallengeData2016')
    prefix = dict(img_path='images/training', seg_map_path='annotations/training')
    seg = BaseSegDataset(data_root=data_root, img_suffix='.jpg', seg_map_suffix='.png',
                         data_prefix=prefix, metainfo=dict(classes=CLASSES),
                         reduce_zero_label=True, pipeline=[])
    assert len(seg) == 6
    for i in range(len(seg)):
        info = seg.get_data_info(i)
        raw = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
        gt = LoadSegAnnotations()(dict(info))['gt_seg_map']
        assert np.array_equal(gt, np.where(raw == 0, 255, raw.astype(np.int64) - 1))
    with pytest.raises(ValueError, match='not a subset'):  # why the demo config uses BaseSegDataset
        ADE20KDataset(data_root=data_root, metainfo=dict(classes=CLASSES), pipeline=[],
                      data_prefix=prefix)

    imagenet = osp.join(demo_root, 'imagenet')
    with open(osp.join(imagenet, 'meta', 'val.txt')) as f:
        expected = [(osp.join(imagenet, 'val', line.split()[0]), int(line.split()[1]))
                    for line in f]
    for dataset in (ImageNet(data_root=imagenet, split='val', metainfo=dict(classes=CLASSES),
                             pipeline=[]),
                    CustomDataset(data_root=imagenet, data_prefix='val', pipeline=[])):
        assert tuple(dataset.CLASSES) == CLASSES
        assert sorted((info['img_path'], int(info['gt_label'])) for info in
                      dataset.load_data_list()) == sorted(expected)


def test_coco_ground_truth_scores_ap_1(demo_root):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO(osp.join(demo_root, 'coco', 'annotations', 'instances_val2017.json'))
    dets = []
    for a in gt.dataset['annotations']:
        rle = gt.annToRLE(a)
        rle['counts'] = rle['counts'].decode()
        dets.append(dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                         segmentation=rle, score=1.0))
    for iou_type in ('bbox', 'segm'):
        evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)


def test_deterministic(tmp_path, demo_root):
    again = str(tmp_path / 'again')
    make_demo_data(again, progress=False, **SIZES)
    assert _tree_bytes(again) == _tree_bytes(demo_root)  # every image, label map and annotation

    # The generator is pinned: the demo results in the README were measured on this data.
    # Hashes of the annotations and of decoded label maps (encoders may differ across versions).
    digest = hashlib.sha256()
    for rel in ('coco/annotations/instances_val2017.json', 'imagenet/meta/train.txt'):
        with open(osp.join(demo_root, rel), 'rb') as f:
            digest.update(f.read())
    ann_dir = osp.join(demo_root, 'ade', 'ADEChallengeData2016', 'annotations', 'validation')
    for name in _files(ann_dir, '.png'):
        digest.update(cv2.imread(osp.join(ann_dir, name), cv2.IMREAD_UNCHANGED).tobytes())
    assert digest.hexdigest()[:16] == '3f33c56c50bfcdf9'

    # Another seed gives other data; the validation images do not depend on num_train.
    val = 'ade/ADEChallengeData2016/annotations/validation'
    seed_1 = [str(tmp_path / f'seed_1_{num_train}') for num_train in (1, 4)]
    for out, num_train in zip(seed_1, (1, 4)):
        make_demo_data(out, tasks=['seg'], seed=1, progress=False, seg_num_train=num_train,
                       seg_num_val=3)
    assert _tree_bytes(osp.join(seed_1[0], val)) == _tree_bytes(osp.join(seed_1[1], val))
    assert _tree_bytes(osp.join(seed_1[0], val)) != _tree_bytes(osp.join(demo_root, val))


def test_existing_folders_are_kept_refused_or_regenerated(tmp_path):
    out = str(tmp_path / 'demo')
    sizes = dict(num_train=3, num_val=3)
    assert make_demo_data(out, tasks=['cls'], progress=False, **sizes) == dict(cls='written')
    before = _tree_bytes(out)
    mtime = os.stat(osp.join(out, 'imagenet', 'meta', 'train.txt')).st_mtime_ns
    assert make_demo_data(out, tasks=['cls'], progress=False, **sizes) == dict(cls='kept')
    assert os.stat(osp.join(out, 'imagenet', 'meta', 'train.txt')).st_mtime_ns == mtime

    with pytest.raises(ToolError, match=r'seed=0 \(requested seed=1\).*--overwrite'):
        make_demo_data(out, tasks=['cls'], seed=1, progress=False, **sizes)
    assert _tree_bytes(out) == before
    make_demo_data(out, tasks=['cls'], seed=1, overwrite=True, progress=False, **sizes)
    assert _tree_bytes(out) != before and sorted(os.listdir(out)) == ['imagenet']
    assert sorted(os.listdir(osp.join(out, 'imagenet'))) == [MARKER, 'meta', 'train', 'val']

    # A folder the tool did not make is never touched, even with overwrite; the conflict is found
    # before any task is written.
    os.makedirs(osp.join(out, 'coco'))
    with open(osp.join(out, 'coco', 'mine.txt'), 'w') as f:
        f.write('mine')
    with pytest.raises(ToolError, match='not made by make_demo_data'):
        make_demo_data(out, tasks=['det', 'seg'], overwrite=True, progress=False, **sizes)
    assert sorted(os.listdir(out)) == ['coco', 'imagenet']
    assert os.listdir(osp.join(out, 'coco')) == ['mine.txt']


def test_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    real_encode = demo_data._encode
    calls = []

    def failing_encode(img, ext):
        calls.append(ext)
        if len(calls) > 3:
            raise RuntimeError('disk full')
        return real_encode(img, ext)

    monkeypatch.setattr(demo_data, '_encode', failing_encode)
    out = tmp_path / 'demo'
    with pytest.raises(RuntimeError, match='disk full'):
        make_demo_data(str(out), tasks=['seg'], num_train=4, num_val=2, progress=False)
    assert not out.exists()  # neither the task folder nor its staging folder is left

    monkeypatch.setattr(demo_data, '_encode', real_encode)
    make_demo_data(str(out), tasks=['seg'], num_train=2, num_val=1, progress=False)
    before = _tree_bytes(str(out))
    calls.clear()
    monkeypatch.setattr(demo_data, '_encode', failing_encode)
    with pytest.raises(RuntimeError):
        make_demo_data(str(out), tasks=['seg'], seed=5, num_train=4, num_val=2, overwrite=True,
                       progress=False)
    assert _tree_bytes(str(out)) == before and os.listdir(out) == ['ade']


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_train=0), 'det num_train must be between 1'),
    (dict(seg_num_val=-2), 'seg num_val must be between 1'),
    (dict(img_size=16), 'img_size must be between 32'),
    (dict(num_train=2.5), 'num_train must be an integer'),
    (dict(num_train=True), 'num_train must be an integer'),
    (dict(seed=-1), 'seed must be >= 0'),
    (dict(tasks=['det', 'pose']), "unknown task 'pose'"),
    (dict(tasks=[]), 'no task selected'),
    (dict(num_images=3), "unknown size argument 'num_images'"),
])
def test_invalid_arguments(tmp_path, kwargs, match):
    with pytest.raises(ToolError, match=match):
        make_demo_data(str(tmp_path / 'demo'), progress=False, **kwargs)
    assert not (tmp_path / 'demo').exists()


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_demo_data_tool',
                                                  osp.join(REPO, 'tools', 'make_demo_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'demo')
    assert tool.main(['--out', out, '--tasks', 'cls', 'det', '--num-train', '3', 'det=2',
                      '--num-val', '2', '--img-size', 'det=64', '--no-progress']) == 0
    assert capsys.readouterr().out.splitlines() == [f'det: {out}/coco written',
                                                    f'cls: {out}/imagenet written']
    ann = _load_json(osp.join(out, 'coco', 'annotations', 'instances_train2017.json'))
    assert len(ann['images']) == 2 and ann['images'][0]['width'] == 64
    assert len(os.listdir(osp.join(out, 'imagenet', 'train', 'circle'))) == 1

    assert tool.main(['--out', out, '--tasks', 'cls', '--num-train', '3', '--num-val', '2',
                      '--seed', '7', '--no-progress']) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and 'seed=0' in err[0] and '--overwrite' in err[0]
    assert tool.main(['--out', out, '--tasks', 'seg', '--num-val', '0']) == 2
    assert capsys.readouterr().err.splitlines() == [
        'make_demo_data: error: seg num_val must be between 1 and 1000000, got 0']
    for argv, message in ((['--num-train', 'many'], "'many' is not an integer"),
                          (['--img-size', 'pose=64'], "unknown task 'pose'")):
        with pytest.raises(SystemExit) as exc:
            tool.main(['--out', out, *argv])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ['coco', 'imagenet']
