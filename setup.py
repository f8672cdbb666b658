"""Packaging for mmmobile: mobile and hybrid backbones as an OpenMMLab plugin."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    """Read a requirements file, dropping comments and blank lines."""
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'mmmobile', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmmobile',
    version=read_version(),
    description='RepViT, RepLKNet, CMT and MobileViTv3 for mmpretrain, mmdet and mmseg, '
    'with re-parameterization, export and benchmarks',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read()
    if osp.exists(osp.join(osp.dirname(__file__), 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    install_requires=[
        'torch>=1.13',
        # mmdet 3.3.0 and mmseg 1.2.2 assert mmcv < 2.2; mmcv must be built with ops.
        'mmcv>=2.0.0,<2.2.0',
        'mmengine>=0.8.3,<1.0.0',
        # mmengine 0.10.7 and mmcv's setup.py import pkg_resources, removed in setuptools 82.
        'setuptools<82',
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
