"""Shared fixtures. Each worker gets its own Numba cache dir (concurrent cache writers can corrupt it)."""

import os
import tempfile

import numpy as np
import pytest

# The controller loads this file first and its environment is inherited by the xdist workers, so
# a value this file chose is re-chosen per worker (a marker says so); a user's own is kept.
if "NUMBA_CACHE_DIR" not in os.environ or os.environ.get("HWSIM_TEST_NUMBA_CACHE") == os.environ["NUMBA_CACHE_DIR"]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"hwsim-numba-cache-{os.getuid()}-{worker}")
    os.environ["HWSIM_TEST_NUMBA_CACHE"] = os.environ["NUMBA_CACHE_DIR"]

from hwsim.config import load_chip_config  # noqa: E402


@pytest.fixture
def small_chip():
    return load_chip_config("small")


@pytest.fixture
def default_chip():
    return load_chip_config("default_28nm")


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def debian_fashion_mnist():
    """Debian's dataset-fashion-mnist folder; .ci/run installs it, so under CI=true it must be there."""
    if not os.path.isdir(FASHION_MNIST_DIR):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {FASHION_MNIST_DIR} is missing: .ci/run installs dataset-fashion-mnist")
        pytest.skip("Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)")
    return FASHION_MNIST_DIR


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Numba kernel -> its slow reference twin (same name and signature). Importing
# the kernels compiles nothing (Numba compiles on first call).
# tests/hwsim/test_kernels.py runs every pair on the same random arguments.
from hwsim import kernels as _kernels  # noqa: E402
from hwsim import reference as _reference  # noqa: E402

from hwsim.kernels import random as _random_kernels  # noqa: E402
from hwsim.kernels import rram as _rram_kernels  # noqa: E402
from hwsim.reference import random as _random_reference  # noqa: E402
from hwsim.reference import rram as _rram_reference  # noqa: E402

COMPARISONS = {
    _kernels.integrate_spikes: _reference.integrate_spikes,
    _kernels.update_neurons: _reference.update_neurons,
    _kernels.core_pass: _reference.core_pass,
    _kernels.host_timestep: _reference.host_timestep,
    _kernels.chip_pass: _reference.chip_pass,
    # router (the twin of route_cycles is the golden unit's own, hwsim.golden.router)
    _kernels.count_routed: _reference.count_routed,
    _kernels.deliver: _reference.deliver,
    _kernels.route_cycles: _reference.route_cycles,
    # early-exit unit (chip-spec §1.4), replayed over a run's output values
    _kernels.exit_timesteps_kernel: _reference.exit_timesteps_kernel,
    # one routing phase of the mesh network-on-chip (chip-spec §1.5); the twin runs the golden routers
    _kernels.mesh_phase: _reference.mesh_phase,
    # RRAM crossbar kernels; the twin of the whole-chip kernel rram_chip_run is the golden model
    # (hwsim.rram.golden.simulate_rram), compared in tests/hwsim/rram/test_rram_engine.py
    _rram_kernels.crossbar_read: _rram_reference.crossbar_read,
}
if _random_kernels.GIL_FREE_STREAMS:  # else the kernels module already is the NumPy twins
    COMPARISONS.update({
        _random_kernels.standard_normals: _random_reference.standard_normals,
        _random_kernels.read_noise_fill: _random_reference.read_noise_fill,
        _random_kernels.device_draws: _random_reference.device_draws,
    })
