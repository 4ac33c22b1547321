"""Fixtures of the cluster tests (tests/cluster/support.py): one cluster per test module."""

from __future__ import annotations

import pytest

from tests.cluster.support import cluster_for_tests


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    """HAProxy + 3 uvicorn processes + Redis master/replica/3 sentinels, on free ports, on
    the test database; started once per module, stopped (every process) after it."""
    with cluster_for_tests() as started:
        yield started
