"""Packaging for mmmobile: mobile and hybrid backbones as an OpenMMLab plugin.

As in the OpenMMLab projects, ``configs/``, ``tools/`` and ``model-index.yml`` ship inside the
package as ``mmmobile/.mim/`` (where ``mim train mmmobile CONFIG`` looks for them): a wheel or a
``pip install .`` gets copies, an editable install (``pip install -e .``) gets symbolic links to
the checkout, so edits show at once.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

ROOT = osp.dirname(osp.abspath(__file__))
#: Top-level files and folders of the checkout that ship as ``mmmobile/.mim/<name>``.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def read_requirements(name: str) -> list:
    """Read a requirements file, dropping comments and blank lines."""
    with open(osp.join(ROOT, 'requirements', name)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    namespace = {}
    with open(osp.join(ROOT, 'mmmobile', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def link_mim_items() -> None:
    """Point ``mmmobile/.mim/<item>`` of the checkout at the checkout's items (editable mode)."""
    mim = osp.join(ROOT, 'mmmobile', '.mim')
    os.makedirs(mim, exist_ok=True)
    for item in MIM_ITEMS:
        link = osp.join(mim, item)
        if osp.islink(link):
            os.remove(link)
        if osp.exists(osp.join(ROOT, item)) and not osp.exists(link):
            os.symlink(osp.join('..', '..', item), link)


class BuildPy(build_py):
    """``build_py`` that also puts the ``.mim`` items into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim_items()
            return
        mim = osp.join(self.build_lib, 'mmmobile', '.mim')
        shutil.rmtree(mim, ignore_errors=True)
        os.makedirs(mim)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for item in MIM_ITEMS:
            src = osp.join(ROOT, item)
            if osp.isdir(src):
                shutil.copytree(src, osp.join(mim, item), ignore=ignore)
            elif osp.isfile(src):
                shutil.copy2(src, osp.join(mim, item))


class Develop(develop):
    """Legacy ``setup.py develop``: link the ``.mim`` items too."""

    def run(self) -> None:
        link_mim_items()
        super().run()


setup(
    name='mmmobile',
    version=read_version(),
    description='RepViT, RepLKNet, CMT and MobileViTv3 for mmpretrain, mmdet and mmseg, '
    'with re-parameterization, export and benchmarks',
    long_description=open(osp.join(ROOT, 'README.md')).read()
    if osp.exists(osp.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=('mmmobile', 'mmmobile.*')),
    cmdclass={'build_py': BuildPy, 'develop': Develop},
    install_requires=[
        # torch.load defaults to weights_only=True from 2.6: mmengine's loaders then refuse
        # pickled code, and mmmobile's checkpoint handling (allow-list, explicit trust) builds
        # on that default.
        'torch>=2.6',
        # mmdet 3.3.0 and mmseg 1.2.2 assert mmcv < 2.2; mmcv must be built with ops.
        'mmcv>=2.0.0,<2.2.0',
        'mmengine>=0.8.3,<1.0.0',
        # mmengine 0.10.7 and mmcv's setup.py import pkg_resources, removed in setuptools 82.
        'setuptools<82',
        # the backbones' layers and heads build on mmpretrain (make_divisible, classifier heads)
        'mmpretrain>=1.0.0,<1.3.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.0.0,<1.3.0'],
        'tests': read_requirements('tests.txt'),
        'deploy': read_requirements('deploy.txt'),
        'benchmark': read_requirements('benchmark.txt'),
        'all': read_requirements('runtime.txt') + read_requirements('tests.txt')
        + read_requirements('deploy.txt') + read_requirements('benchmark.txt'),
    },
    zip_safe=False,
)
