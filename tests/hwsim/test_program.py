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
        (dict(first=dict(weights=np.full((3, 2), 8, np.int32))),
         r"core 0: weight 8 does not fit w_bits = 4 \(allowed -8..7\)"),
        (dict(first=dict(weights=np.ones((5, 2), np.int32))), r"core 0: 5 axons in use, the core has 1..4"),
        (dict(second=dict(weights=np.ones((2, 5), np.int32), bias=np.zeros(5, np.int32))), r"core 1: 5 neurons in use"),
        (dict(first=dict(bias=np.zeros(3, np.int32))), r"core 0: bias has shape \(3,\), expected \(2,\)"),
        (dict(first=dict(bias=np.full(2, 200, np.int32))),
         r"core 0: bias 200 does not fit v_bits = 8 \(allowed -128..127\)"),
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
        (drop_threshold, r"core 0: missing threshold; a core needs core, stage, threshold, leak_shift"),
        (extra_key, r"core 1: unknown keys \['gain'\]; allowed core, stage"),
        (lambda h: [h], r"not a hwsim chip program: header is a JSON list; expected a JSON object"),
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


# ------------------------------------------------------------------------ header fields (issue 12)
def _edit_core(k, key, value):
    def edit(h):
        h["cores"][k][key] = value
        return h

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_edit_core(0, "routes", [{"dest_core": 1, "src_lo": 0, "src_hi": 2.5, "axon_offset": 0}]),
         r"core 0: routes\[0\].src_hi = 2.5: expected a whole number >= 0"),
        (_edit_core(0, "routes", [{"dest_core": "1", "src_lo": 0, "src_hi": 2, "axon_offset": 0}]),
         r"core 0: routes\[0\].dest_core = '1': expected a whole number >= 0"),
        (_edit_core(0, "routes", [{"dest_core": 1}]),
         r"core 0: routes\[0\] = \{'dest_core': 1\}: expected an object with keys dest_core, src_lo, src_hi, "
         r"axon_offset"),
        (_edit_core(0, "routes", {"dest_core": 1}), r"core 0: routes = \{'dest_core': 1\}: expected a list"),
        (_edit_core(0, "threshold", 2.0), r"core 0: threshold = 2.0: expected a whole number >= 0"),
        (_edit_core(0, "core", True), r"core 0: core = True: expected a whole number >= 0"),
        (_edit_core(1, "output_offset", "0"), r"core 1: output_offset = '0': expected a whole number >= 0 or null"),
        (_edit_core(0, "label", 5), r"core 0: label = 5; expected a string"),
        (_edit_core(0, "integration", ["x"]), r"core 0: integration = \['x'\]; expected a string"),
        (lambda h: {**h, "n_inputs": True}, r"n_inputs = True: expected a whole number >= 1"),
        (lambda h: {**h, "cores": h["cores"] * 2},
         r"cores = \[.*\]: expected a list of 1..3 core objects \(one per used core\)"),
        (lambda h: {**h, "cores": [h["cores"][0], 7]}, r"core 1 is a JSON int \(7\); expected a core object"),
        (lambda h: {**h, "host_routes": [[0, 0, 3, 0]]}, r"host_routes\[0\] = \[0, 0, 3, 0\]: expected an object"),
        (lambda h: {**h, "metadata": {"timesteps": 2.5}},
         r"program metadata timesteps = 2.5: expected a whole number in 1..4096"),
        (lambda h: {**h, "metadata": ["x"]}, r"program metadata is a list \(\['x'\]\); expected a JSON object"),
        (lambda h: {**h, "colour": 1}, r"unknown header key\(s\) colour; allowed format, version, chip"),
        (lambda h: {k: v for k, v in h.items() if k != "host_routes"}, r"header without host_routes"),
        (lambda h: {**h, "chip": {**h["chip"], "mesh_rows": 0}}, r"mesh_rows = 0: out of range, allowed 1..64"),
        (lambda h: {**h, "chip": [1]}, r"chip config = \[1\]: expected a table"),
    ],
)
def test_header_fields_are_checked_with_what_is_allowed(tmp_path, edit, message):
    good = program().save(tmp_path / "good.npz")
    path = rewrite_npz_header(good, tmp_path / "bad.npz", edit)
    with pytest.raises(ProgramError, match=message) as info:
        ChipProgram.load(path)
    assert str(info.value).startswith(str(path))  # the message names the file


def test_route_from_dict_takes_whole_numbers_only():
    assert Route.from_dict(Route(1, 0, 2, 3).to_dict()) == Route(1, 0, 2, 3)
    with pytest.raises(ProgramError, match=r"route\[0\].axon_offset = -1: expected a whole number >= 0"):
        Route.from_dict({"dest_core": 1, "src_lo": 0, "src_hi": 2, "axon_offset": -1})
