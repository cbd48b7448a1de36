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


# ------------------------------------------------------------------ partial-sum cores (chip-spec §1.3, §6)
PSUM_CHIP = CHIP.replace(core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=4, v_bits=8, partial_sums=True))


def psum_program(first=None, third=None, **over):
    """Core 0 (stage 0) sends partial sums of its 2 neurons to neurons 0..1 of core 1 (stage 1, 4 neurons);
    ``third`` adds core 2 (stage 0), a second partial-sum core sending to core 1."""
    psum = dict(stage=0, weights=np.ones((3, 2), np.int32), bias=np.zeros(2, np.int32), threshold=5, fire=False,
                psum_out=True)
    cores = [CoreProgram(core=0, **{**psum, "routes": (Route(1, 0, 2, 0),), **(first or {})}),
             CoreProgram(core=1, stage=1, weights=np.ones((2, 4), np.int32), bias=np.zeros(4, np.int32), threshold=5,
                         output_offset=0)]
    if third is not None:
        cores.append(CoreProgram(core=2, **{**psum, **third}))
    fields = dict(chip=PSUM_CHIP, cores=tuple(cores), host_routes=(Route(0, 0, 3, 0), Route(2, 0, 3, 0)), n_inputs=3)
    if third is None:
        fields["host_routes"] = fields["host_routes"][:1]
    fields.update(over)
    return ChipProgram(**fields)


def test_a_partial_sum_program_is_valid_and_names_its_receivers():
    p = psum_program(third=dict(routes=(Route(1, 0, 2, 2),)))  # core 2 -> neurons 2..3 of core 1: no overlap
    assert p.validate() is p
    assert p.psum_receivers() == {1}
    assert program().psum_receivers() == frozenset()
    # partial sums (neurons) and spikes (axons) into one core are checked apart: neurons 0..1 and axons 0..1
    both = psum_program(host_routes=(Route(0, 0, 3, 0), Route(1, 0, 2, 0)))
    assert both.validate().psum_receivers() == {1}


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(chip=CHIP),
         r"core 0: psum_out = true but chip 't' has no partial sums \(core.partial_sums = false\); use a chip with "
         r"partial sums or keep every layer's fan-in within one core"),
        (dict(first=dict(routes=())),
         r"core 0: a partial-sum core \(psum_out = true\) has routes = 0 \(needs at least one\)$"),
        (dict(first=dict(fire=True)),
         r"core 0: a partial-sum core \(psum_out = true\) has fire = True \(needs false\)$"),
        (dict(first=dict(integration="continuous")), r"has integration = 'continuous' \(needs 'discontinuous'\)$"),
        (dict(first=dict(leak_shift=1)), r"has leak_shift = 1 \(needs 0\)$"),
        (dict(first=dict(bias=np.array([0, -3], np.int32))), r"has bias = -3 \(needs all 0\)$"),
        # every broken register at once, in one message
        (dict(first=dict(fire=True, leak_shift=2)), r"has fire = True \(needs false\); leak_shift = 2 \(needs 0\)$"),
        (dict(first=dict(psum_out="yes")), r"core 0: psum_out = 'yes', expected true or false"),
        (dict(first=dict(psum_out=1)), r"core 0: psum_out = 1, expected true or false"),
        # destinations are neurons of the receiver: 3..4 is past its 4 neurons (the axon limit, 2, does not apply)
        (dict(first=dict(routes=(Route(1, 0, 2, 3),))),
         r"core 0: route .*: partial sums to neurons 3..4 exceed the 4 neurons in use on core 1"),
        (dict(first=dict(routes=(Route(1, 0, 2, 2),))), None),  # neurons 2..3, beyond its 2 axons: valid
        # one partial sum per neuron and timestep: ranges into one core must not overlap, from two cores ...
        (dict(third=dict(routes=(Route(1, 0, 2, 1),))),
         r"core 1: partial sums of neurons 1..1 are fed by both core 0 and core 2"),
        # ... or from two entries of one table
        (dict(first=dict(routes=(Route(1, 0, 2, 0), Route(1, 1, 2, 0)))),
         r"core 1: partial sums of neurons 0..0 are fed by both core 0 and core 0"),
        # partial sums go forward like spikes
        (dict(third=dict(stage=1, routes=(Route(1, 0, 2, 2),))), r"destination stage 1 must be later than source"),
        # partial-sum ranges lie within the sender's neurons
        (dict(first=dict(routes=(Route(1, 0, 3, 0),))), r"source range must lie in 0..2"),
    ],
)
def test_partial_sum_cores_follow_the_validation_rules(over, message):
    p = psum_program(**over)
    if message is None:
        p.validate()
        return
    with pytest.raises(ProgramError, match=message):
        p.validate()


def test_psum_out_is_saved_only_when_true_and_round_trips(tmp_path):
    p = psum_program()
    assert [("psum_out" in h, h.get("psum_out")) for h in p.header()["cores"]] == [(True, True), (False, None)]
    assert all("psum_out" not in h for h in program().header()["cores"])
    q = ChipProgram.load(p.save(tmp_path / "psum.npz"))
    assert q.header() == p.header()
    assert [c.psum_out for c in q.cores] == [True, False] and q.psum_receivers() == {1}
    assert q.chip.core.partial_sums is True


@pytest.mark.parametrize(
    "edit, message",
    [
        (_edit_core(0, "psum_out", "true"), r"core 0: psum_out = 'true', expected true or false"),
        (_edit_core(0, "psum_out", 1), r"core 0: psum_out = 1, expected true or false"),
        # the chip of the file has no partial sums
        (lambda h: {**h, "chip": {**h["chip"], "core": {k: v for k, v in h["chip"]["core"].items()
                                                        if k != "partial_sums"}}},
         r"core 0: psum_out = true but chip 't' has no partial sums"),
        (lambda h: {**h, "chip": {**h["chip"], "core": {**h["chip"]["core"], "partial_sums": "yes"}}},
         r"core.partial_sums = 'yes': expected true or false"),
    ],
)
def test_psum_header_fields_are_checked(tmp_path, edit, message):
    good = psum_program().save(tmp_path / "good.npz")
    path = rewrite_npz_header(good, tmp_path / "bad.npz", edit)
    with pytest.raises(ProgramError, match=message):
        ChipProgram.load(path)
