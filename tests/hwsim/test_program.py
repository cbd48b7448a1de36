"""Chip programs: validation names the core and field; files round-trip and never unpickle."""

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig
from hwsim.errors import ProgramError
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.testing import rewrite_npz_header

CHIP = ChipConfig(name="t", mesh_rows=1, mesh_cols=3, core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=4, v_bits=8))


def program(**over):
    first = dict(core=0, stage=0, weights=np.ones((3, 2), np.int32), bias=np.zeros(2, np.int32), threshold=5,
                 routes=(Route(1, 0, 2, 0),))
    second = dict(core=1, stage=1, weights=np.ones((2, 4), np.int32), bias=np.zeros(4, np.int32), threshold=5,
                  output_offset=0)
    first.update(over.pop("first", {}))
    second.update(over.pop("second", {}))
    fields = dict(chip=CHIP, cores=(CoreProgram(**first), CoreProgram(**second)),
                  host_routes=(Route(0, 0, 3, 0),), n_inputs=3)
    fields.update(over)
    return ChipProgram(**fields)


def test_valid_program_round_trips(tmp_path):
    p = program()
    p.validate()
    path = p.save(tmp_path / "prog.npz")
    q = ChipProgram.load(path)
    assert q.header() == p.header()
    for a, b in zip(p.cores, q.cores):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert q.n_outputs == 4 and q.n_stages == 2 and q.readout == "spike_count"


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(first=dict(weights=np.full((3, 2), 8, np.int32))), r"core 0: weight 8 does not fit w_bits = 4 \(allowed -8..7\)"),
        (dict(first=dict(weights=np.ones((5, 2), np.int32))), r"core 0: 5 axons in use, the core has 1..4"),
        (dict(second=dict(weights=np.ones((2, 5), np.int32), bias=np.zeros(5, np.int32))), r"core 1: 5 neurons in use"),
        (dict(first=dict(bias=np.zeros(3, np.int32))), r"core 0: bias has shape \(3,\), expected \(2,\)"),
        (dict(first=dict(bias=np.full(2, 200, np.int32))), r"core 0: bias 200 does not fit v_bits = 8 \(allowed -128..127\)"),
        (dict(first=dict(fire="no")), r"core 0: fire = 'no', allowed True \(spiking\) or False"),
        (dict(first=dict(stage=True)), r"core 0: stage = True, expected an integer >= 0"),
        (dict(second=dict(output_offset="0")), r"core 1: output_offset = '0', expected an integer >= 0"),
        (dict(first=dict(threshold=-1)), r"core 0: threshold = -1, allowed 0..127"),
        (dict(first=dict(leak_shift=8)), r"core 0: leak_shift = 8, allowed 0..7"),
        (dict(first=dict(integration="sometimes")), r"integration = 'sometimes', allowed discontinuous, continuous"),
        (dict(first=dict(reset="bounce")), r"reset = 'bounce', allowed subtract, zero"),
        (dict(first=dict(core=7)), r"core 7: not on the 1x3 mesh"),
        (dict(first=dict(weights=np.ones((3, 2)))), r"weights have dtype float64, expected integers"),
        (dict(first=dict(routes=(Route(1, 0, 2, 3),))), r"axons 3..4 exceed the 2 axons in use on core 1"),
        (dict(first=dict(routes=(Route(2, 0, 2, 0),))), r"destination core holds no program"),
        (dict(second=dict(stage=0)), r"destination stage 0 must be later"),
        (dict(first=dict(routes=(Route(1, 0, 2, 0), Route(1, 1, 2, 1)))), r"core 1: axons 1..1 are fed by both"),
        (dict(host_routes=()), r"host routing table is empty"),
        (dict(second=dict(output_offset=2)), r"output_offset = 2, expected 0"),
    ],
)
def test_invalid_programs_name_the_problem(over, message):
    with pytest.raises(ProgramError, match=message):
        program(**over).validate()


def test_load_rejects_non_program_files(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ProgramError, match="not a hwsim chip program"):
        ChipProgram.load(bad)
    with pytest.raises(ProgramError, match="does not exist"):
        ChipProgram.load(tmp_path / "missing.npz")


def test_load_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([{"format": "hwsim-chip-program"}], dtype=object))
    with pytest.raises(ProgramError, match="not a hwsim chip program"):
        ChipProgram.load(path)


def test_load_names_what_is_malformed(tmp_path):
    good = program().save(tmp_path / "good.npz")

    def drop_threshold(h):
        del h["cores"][0]["threshold"]
        return h

    def extra_key(h):
        h["cores"][1]["gain"] = 2
        return h

    cases = [
        (drop_threshold, r"malformed chip program \(missing 'threshold'\)"),
        (extra_key, r"core 1: unknown keys \['gain'\]; allowed core, stage"),
        (lambda h: [h], r"not a hwsim chip program \(header is a list\)"),
    ]
    for k, (edit, message) in enumerate(cases):
        path = rewrite_npz_header(good, tmp_path / f"bad{k}.npz", edit)
        with pytest.raises(ProgramError, match=message):
            ChipProgram.load(path)


def test_saved_files_get_the_umask_mode_not_owner_only(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = program().save(tmp_path / "prog.npz")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644  # what open() gives under umask 022
