"""hwsim.testing's random partial-sum programs: valid, reproducible, covering what they promise, and, without
saturation, computing the unsplit network (checked against a dense NumPy model written here)."""

import dataclasses

import numpy as np
import pytest

from hwsim.golden import simulate
from hwsim.testing import psum_test_chip, random_psum_program, random_raster

CHIP = psum_test_chip()
SEEDS = range(40)


def by_core(program):
    return {cp.core: cp for cp in program.cores}


def dense_layers(program):
    """Per layer: the full weight matrix and the final cores' registers per neuron, put together from the cores
    named in the layout; every (input, neuron) weight must come from exactly one core."""
    cores = by_core(program)
    layers = []
    for layer in program.metadata["psum_layout"]["layers"]:
        n_in, n_out = layer["n_in"], layer["n_out"]
        w = np.zeros((n_in, n_out), np.int64)
        covered = np.zeros((n_in, n_out), np.int64)
        regs = {key: np.zeros(n_out, np.int64) for key in ("bias", "threshold", "leak_shift", "zero_reset", "fire")}
        for part in layer["parts"]:
            p_lo = part["neurons"][0]
            for stage in part["stages"]:
                i0, i1 = stage["inputs"]
                for core, lo, hi in stage["pieces"]:
                    cp = cores[core]
                    cols = slice(p_lo + lo, p_lo + hi)
                    w[i0:i1, cols] += cp.weights
                    covered[i0:i1, cols] += 1
                    if stage is part["stages"][-1]:
                        assert not cp.psum_out
                        regs["bias"][cols] = cp.bias
                        regs["threshold"][cols] = cp.threshold
                        regs["leak_shift"][cols] = cp.leak_shift
                        regs["zero_reset"][cols] = cp.reset == "zero"
                        regs["fire"][cols] = cp.fire
                    else:
                        assert cp.psum_out
        assert (covered == 1).all()
        layers.append((w, regs, layer["skip"]))
    return layers


def dense_run(program, raster):
    """The unsplit network, discontinuous, without saturation (chip-spec §2.2 with sat() the identity):
    v = x @ W + bias; v -= v >> leak_shift if leak_shift > 0; spike = fire and v >= threshold; reset."""
    layers = dense_layers(program)
    B, T, _ = raster.shape
    n_out = layers[-1][0].shape[1]
    spikes, membranes = np.zeros((B, T, n_out), np.int64), np.zeros((B, T, n_out), np.int64)
    largest = 0
    for b in range(B):
        for t in range(T):
            x = raster[b, t].astype(np.int64)
            for w, regs, skip in layers:
                if skip is not None:  # the layer's inputs: the previous layer's spikes, then host inputs
                    x = np.concatenate([x, raster[b, t, skip[1]:skip[1] + skip[2]].astype(np.int64)])
                v = x @ w + regs["bias"]
                largest = max(largest, int(np.abs(x @ np.abs(w)).max()) + int(np.abs(regs["bias"]).max()))
                v = np.where(regs["leak_shift"] > 0, v - (v >> regs["leak_shift"]), v)  # leak_shift 0: no leak
                s = (regs["fire"] == 1) & (v >= regs["threshold"])
                v = np.where(s, np.where(regs["zero_reset"] == 1, 0, v - regs["threshold"]), v)
                x = s.astype(np.int64)
            spikes[b, t], membranes[b, t] = x, v
    return spikes, membranes, largest


@pytest.mark.parametrize("seed", range(12))
def test_without_saturation_a_random_program_computes_the_unsplit_network(seed):
    rng = np.random.default_rng(seed)
    program = random_psum_program(rng, CHIP, saturating=False, integration="discontinuous")
    raster = random_raster(rng, 2, 3, program.n_inputs, 0.5)
    spikes, membranes, largest = dense_run(program, raster)
    assert largest <= CHIP.core.v_max  # no sum of weights could leave v_bits: the generator's promise
    res = simulate(program, raster)
    np.testing.assert_array_equal(res.output_spikes, spikes)
    np.testing.assert_array_equal(res.output_membranes, membranes)


def test_the_same_seed_gives_the_same_program_and_others_differ():
    a, b, c = (random_psum_program(np.random.default_rng(s), CHIP) for s in (7, 7, 8))
    assert a.header() == b.header() and a.header() != c.header()
    for x, y in zip(a.cores, b.cores):
        np.testing.assert_array_equal(x.weights, y.weights)


def test_random_programs_cover_what_the_generator_promises():
    seen = dict(chain_of_3=0, chain_of_1=0, psum_multicast=0, two_senders=0, skip=0, host_into_receiver=0,
                core_spikes_into_receiver=0, continuous=0, discontinuous=0, membrane=0, spike_count=0)
    for seed in SEEDS:
        p = random_psum_program(np.random.default_rng(seed), CHIP)
        receivers = p.psum_receivers()
        layout = p.metadata["psum_layout"]
        assert sum(cp.psum_out for cp in p.cores) >= 1 and len(p.cores) <= CHIP.n_cores
        chains = [len(part["stages"]) for layer in layout["layers"] for part in layer["parts"]]
        seen["chain_of_3"] += 3 in chains
        seen["chain_of_1"] += 1 in chains
        seen["psum_multicast"] += any(cp.psum_out and len({r.dest_core for r in cp.routes}) > 1 for cp in p.cores)
        senders = [r.dest_core for cp in p.cores if cp.psum_out for r in cp.routes]
        seen["two_senders"] += any(senders.count(c) > 1 for c in receivers)
        later_layers = {pc[0] for layer in layout["layers"][1:] for part in layer["parts"] for st in part["stages"]
                        for pc in st["pieces"]}
        seen["skip"] += any(r.dest_core in later_layers for r in p.host_routes)
        seen["host_into_receiver"] += any(r.dest_core in receivers for r in p.host_routes)
        seen["core_spikes_into_receiver"] += any(not cp.psum_out and r.dest_core in receivers
                                                 for cp in p.cores for r in cp.routes)
        for cp in p.cores:
            if not cp.psum_out:
                seen[cp.integration] += 1
        seen[p.readout] += 1
    assert all(n > 0 for n in seen.values()), seen


def test_saturating_programs_do_saturate_and_send_partial_sums():
    sent, saturated = 0, 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        p = random_psum_program(rng, CHIP, saturating=True)
        res = simulate(p, random_raster(rng, 1, 3, p.n_inputs, 0.7), record=True)
        for k, cp in enumerate(p.cores):
            if cp.psum_out:
                sent += int(res.counter("packets")[..., k].sum())
            saturated += int(np.isin(res.membranes[k], (CHIP.core.v_min, CHIP.core.v_max)).sum())
    assert sent > 0 and saturated > 0


def test_the_generator_refuses_chips_it_cannot_use():
    rng = np.random.default_rng(0)
    no_psum = CHIP.replace(core=dataclasses.replace(CHIP.core, partial_sums=False))
    with pytest.raises(ValueError, match="has no partial sums: use a digital chip with core.partial_sums = true"):
        random_psum_program(rng, no_psum)
    with pytest.raises(ValueError, match=r"no random program with >= 1 partial-sum cores fitted the 1 cores"):
        random_psum_program(rng, CHIP.replace(mesh_rows=1, mesh_cols=1), max_tries=5)
