"""Shared pytest fixtures and helpers for mmmobile tests."""
import os
import os.path as osp

import pytest
import torch

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OFFICIAL_FIXTURES = os.environ.get(
    'MMMOBILE_OFFICIAL_FIXTURES', osp.join(osp.dirname(REPO_ROOT), 'shared', 'fixtures', 'official'))


@pytest.fixture
def official_fixtures() -> str:
    """Folder of checkpoints made by the official code; skips the test where it is absent."""
    if not osp.isdir(OFFICIAL_FIXTURES):
        pytest.skip(f'official fixtures not found at {OFFICIAL_FIXTURES} '
                    '(set MMMOBILE_OFFICIAL_FIXTURES to the shared/fixtures/official folder)')
    return OFFICIAL_FIXTURES
