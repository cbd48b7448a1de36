"""``mapping.plan`` takes the same ``rates`` values as ``hwsim map --rates`` (issue 12 §5): one parser."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.datasets import load_dataset
from hwsim.encoding import encode
from hwsim.testing import random_network, random_raster
from mapping import MappingError, plan


@pytest.fixture
def chip4x4(small_chip):
    return small_chip.replace(mesh_rows=4, mesh_cols=4)


@pytest.fixture
def net(chip4x4):
    # 3 layers in 2 + 2 + 1 parts on a 4x4 mesh: the rates change the annealed placement
    return random_network(np.random.default_rng(4), [64, 60, 40, 10], chip4x4.core, threshold=10,
                          weight_range=(-20, 31))


def same_placement(a, b):
    return list(a.placement.cores) == list(b.placement.cores) and a.placement.cost == b.placement.cost


def test_text_values_mean_what_the_cli_says(tmp_path, chip4x4, net):
    assert same_placement(plan(net, chip4x4, rates="uniform", seed=2), plan(net, chip4x4, rates=None, seed=2))
    given = [0.4, 0.2, 0.1, 0.05]
    assert same_placement(plan(net, chip4x4, rates="0.4,0.2,0.1,0.05", seed=2),
                          plan(net, chip4x4, rates=given, seed=2))
    raster = random_raster(np.random.default_rng(1), 3, 4, 64, 0.3)
    np.save(tmp_path / "r.npy", raster)
    by_array = plan(net, chip4x4, rates=raster, seed=2)
    assert same_placement(plan(net, chip4x4, rates=str(tmp_path / "r.npy"), seed=2), by_array)
    assert same_placement(plan(net, chip4x4, rates=tmp_path / "r.npy", seed=2), by_array)
    # the network names no dataset: auto falls back to uniform, as 'hwsim map' says
    assert same_placement(plan(net, chip4x4, rates="auto", seed=2), plan(net, chip4x4, rates=None, seed=2))


def test_dataset_rates_calibrate_on_the_named_dataset(chip4x4, net):
    net.metadata.update({"dataset": "digits", "timesteps": 3, "encoding": "rate"})
    raster = encode(load_dataset("digits").x_test[:5], 3, "rate", seed=0)  # what dataset:5 stands for
    assert same_placement(plan(net, chip4x4, rates="dataset:5", seed=1), plan(net, chip4x4, rates=raster, seed=1))


@pytest.mark.parametrize("text, message", [
    ("dataset:0", "N must be in 1..10000"),
    ("dataset:x", "expected dataset:N with an integer N"),
    ("datasets", "expected 'auto'"),
    ("fast", "expected 'auto'"),
    ("0.1,,0.2", "expected 'auto'"),
    ("nothing.npy", "no such file"),
])
def test_bad_text_is_refused_by_the_api_as_by_the_cli(chip4x4, net, text, message):
    with pytest.raises(MappingError) as caught:
        plan(net, chip4x4, rates=text)
    assert str(caught.value).startswith(f"rates {text!r}: ") and message in str(caught.value)


def test_dataset_rates_refuse_fractional_timesteps_in_the_metadata(chip4x4, net):
    net.metadata.update({"dataset": "digits", "timesteps": 2.5})
    message = r"rates 'dataset:4': the network's metadata timesteps = 2\.5 is not a whole"
    with pytest.raises(MappingError, match=message):
        plan(net, chip4x4, rates="dataset:4")
    # auto falls back to the uniform upper bound, as for any network it cannot calibrate
    assert same_placement(plan(net, chip4x4, rates="auto", seed=2), plan(net, chip4x4, rates=None, seed=2))
