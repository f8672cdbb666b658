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


#: Under ``CI=true`` a test whose inputs are missing fails instead of skipping.
IN_CI = os.environ.get('CI', '').strip().lower() in ('1', 'true', 'yes')


def skip_or_fail(reason: str) -> None:
    """Skip the test where something it needs is absent; fail under ``CI=true``."""
    if IN_CI:
        pytest.fail(f'{reason} (CI=true: missing inputs fail instead of skipping)',
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def official_fixtures() -> str:
    """Folder of checkpoints made by the official code (see :func:`skip_or_fail` if absent)."""
    if not osp.isdir(OFFICIAL_FIXTURES):
        skip_or_fail(f'official fixtures not found at {OFFICIAL_FIXTURES} '
                     '(set MMMOBILE_OFFICIAL_FIXTURES to the shared/fixtures/official folder)')
    return OFFICIAL_FIXTURES
