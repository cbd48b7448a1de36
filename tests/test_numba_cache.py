"""Parallel test workers never share a Numba cache (concurrent writers can corrupt it, numba #4807)."""

import os

import numba
import pytest


def test_each_xdist_worker_compiles_into_its_own_cache():
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("not running under pytest-xdist (make test uses -n 2)")
    assert os.path.basename(os.environ["NUMBA_CACHE_DIR"]).endswith(f"-{worker}")
    assert numba.config.CACHE_DIR == os.environ["NUMBA_CACHE_DIR"]  # numba read it before any compile
