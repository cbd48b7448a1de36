"""The code the subcommands share (hwsim/commands/common.py): written once, used by run, report, train and
yield (issue 13 §2: network loading and mapper-warning capture were copied between run and yield)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.commands import common
from hwsim.config import load_chip_config
from hwsim.errors import InputError
from hwsim.testing import random_network


@pytest.fixture
def continuous_net(tmp_path):
    """Quantized for 12-bit membranes and integrating continuously: mapping it onto a 16-bit chip warns."""
    chip = load_chip_config("default_28nm")
    net = random_network(np.random.default_rng(8), [64, 16, 10], chip.core, integration="continuous")
    net.metadata.update({"v_bits": 12, "timesteps": 2})
    return net


def test_mapper_warnings_become_one_message_line(capsys, continuous_net):
    program = common.map_with_messages("somecommand", continuous_net, load_chip_config("default_28nm"))
    assert program.n_inputs == 64
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hwsim somecommand: warning: design rule v_bits_match_network (soft)")


def test_run_and_yield_show_mapper_warnings_the_same_way(tmp_path, capsys, continuous_net):
    path = continuous_net.save(tmp_path / "net.npz")
    assert main(["run", "--net", str(path), "--limit", "2", "--sweep", "none", "--no-figures", "-q",
                 "-o", str(tmp_path / "r")]) == 0
    run_err = capsys.readouterr().err
    rram = load_chip_config("rram")
    net = random_network(np.random.default_rng(8), [64, 16, 10], rram.core, integration="continuous")
    net.metadata.update({"v_bits": rram.core.v_bits - 4, "timesteps": 2})
    assert main(["yield", "--net", str(net.save(tmp_path / "rnet.npz")), "--instances", "1", "--limit", "2",
                 "--sweep", "none", "--no-figures", "-q", "-o", str(tmp_path / "y")]) == 0
    yield_err = capsys.readouterr().err
    for command, err in (("run", run_err), ("yield", yield_err)):
        warned = [line for line in err.splitlines() if "warning" in line]
        assert len(warned) == 1 and warned[0].startswith(f"hwsim {command}: warning: design rule "
                                                         "v_bits_match_network (soft)"), err


@pytest.mark.parametrize("value, expected", [(None, 8), (3, 3), (np.int64(5), 5), (np.array(6), 6)])
def test_network_timesteps_takes_whole_numbers(value, expected):
    meta = {} if value is None else {"timesteps": value}
    assert common.network_timesteps(meta, None) == expected
    assert common.network_timesteps(meta, 4) == 4  # the option wins


@pytest.mark.parametrize("value", [2.5, "8", True, 0, 4097, -1, [8]])
def test_network_timesteps_refuses_anything_else(value):
    with pytest.raises(InputError, match="network metadata timesteps"):
        common.network_timesteps({"timesteps": value}, None)
