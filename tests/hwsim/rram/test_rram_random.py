"""The GIL-free random-stream kernels give NumPy's numbers bit for bit (docs/rram.md §2, chip-spec §7.3).

Every expected value here comes from NumPy's own
``Generator(PCG64(SeedSequence(...)))``, the stream the specification names,
never from the kernels. The sample sizes make the rare paths of NumPy's
ziggurat (rejections and the tail beyond r = 3.654) occur hundreds of times,
and the tests check that they did.
"""

import dataclasses

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig, RramConfig
from hwsim.kernels import random as kernels
from hwsim.program import CoreProgram
from hwsim.reference import random as reference
from hwsim.rram.device import FAULT_STUCK_OFF, FAULT_STUCK_ON, program_chip, sample_crossbar, seed_words
from rram_cases import mapped, rram_chip

ZIGGURAT_R = 3.6541528853610088  # NumPy's ziggurat_nor_r: normals beyond it come from the tail algorithm

# Each random-stream kernel and its slow twin (same name and signature).
RANDOM_KERNELS = {
    kernels.standard_normals: reference.standard_normals,
    kernels.read_noise_fill: reference.read_noise_fill,
    kernels.device_draws: reference.device_draws,
}


def numpy_generator(entropy):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


@pytest.mark.parametrize("values", [[0], [5], [3, 1, 17], [2**32 - 1, 1, 2**32], [2**40 + 5, 0, 1],
                                    [2**64 - 1], [1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 0]])
def test_seed_words_seed_the_same_sequence_as_the_integers(values):
    # NumPy splits each integer into 32-bit words; SeedSequence of those words is the same sequence
    words = seed_words(*values)
    assert words.dtype == np.uint32
    want = np.random.SeedSequence(values).generate_state(8)
    assert np.array_equal(np.random.SeedSequence(words).generate_state(8), want)
    with pytest.raises(ValueError, match="-1"):
        seed_words(3, -1)


@pytest.mark.parametrize("values", [[0], [7], [3, 1, 17], [2**32, 1, 2**32 - 1], [2**63 + 11, 2, 4],
                                    [9, 8, 7, 6, 5, 4, 3, 2, 1]])  # more words than the pool of 4
def test_standard_normals_equal_numpy(values):
    out = np.empty((3, 5, 7))
    kernels.standard_normals(seed_words(*values), out)
    assert np.array_equal(out, numpy_generator(values).standard_normal((3, 5, 7)))


def test_standard_normals_equal_numpy_in_the_tails():
    n = 2_000_000
    out = np.empty(n)
    kernels.standard_normals(seed_words(12345), out)
    want = numpy_generator([12345]).standard_normal(n)
    assert np.array_equal(out, want)
    # P(|x| > r) = 2.6e-4: ~500 tail draws expected; the exp-test rejections are ~0.7 % of the draws
    assert (np.abs(want) > ZIGGURAT_R).sum() > 300


@pytest.mark.parametrize("seed, first", [(0, 0), (3, 17), (2**33 + 1, 5), (8, 2**32 - 2)])
def test_read_noise_fill_equals_the_specified_streams(seed, first):
    # chip-spec §7.3: image i of instance `seed` reads Generator(PCG64(SeedSequence([seed, 1, i]))).
    # first = 2^32 - 2 crosses the one-word/two-word boundary of the image index.
    B, T, C, N = 4, 3, 2, 16
    z = np.empty((B, T, C, N))
    kernels.read_noise_fill(seed_words(seed), first, z)
    for b in range(B):
        assert np.array_equal(z[b], numpy_generator([seed, 1, first + b]).standard_normal((T, C, N))), b


def test_device_draws_keep_the_corner_of_the_physical_draws():
    axons, neurons, na, nn = 40, 24, 9, 5
    z, u = np.empty((na, nn, 2)), np.empty((na, nn, 2))
    kernels.device_draws(seed_words(6, 0, 3), axons, neurons, na, nn, z, u)
    rng = numpy_generator([6, 0, 3])
    zz = rng.standard_normal((axons, neurons, 2))
    uu = rng.random((axons, neurons, 2))
    assert np.array_equal(z, zz[:na, :nn]) and np.array_equal(u, uu[:na, :nn])


@pytest.mark.reference
@pytest.mark.parametrize("kernel", list(RANDOM_KERNELS), ids=lambda k: k.py_func.__name__)
def test_random_kernels_equal_their_twins(kernel):
    twin = RANDOM_KERNELS[kernel]
    assert kernel.py_func.__name__ == twin.__name__
    code = kernel.py_func.__code__
    assert code.co_varnames[: code.co_argcount] == twin.__code__.co_varnames[: twin.__code__.co_argcount]
    rng = np.random.default_rng(4)
    for _ in range(5):
        seed = int(rng.integers(0, 2**40))
        if kernel.py_func.__name__ == "standard_normals":
            args = (seed_words(seed, 7), np.empty(int(rng.integers(1, 3000))))
        elif kernel.py_func.__name__ == "read_noise_fill":
            args = (seed_words(seed), int(rng.integers(0, 2**33)), np.empty((3, 2, 2, 9)))
        else:
            A, N = int(rng.integers(1, 30)), int(rng.integers(1, 30))
            na, nn = int(rng.integers(1, A + 1)), int(rng.integers(1, N + 1))
            args = (seed_words(seed, 0, 2), A, N, na, nn, np.empty((na, nn, 2)), np.empty((na, nn, 2)))
        got = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        want = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        kernel(*got)
        twin(*want)
        for g, w in zip(got, want):
            if isinstance(g, np.ndarray):
                assert np.array_equal(g, w)


def test_sample_crossbar_programs_the_numpy_streams():
    # Rebuild a crossbar from NumPy's streams by hand: lognormal variation, stuck cells from u,
    # one crossbar factor from SeedSequence([seed, 2, core]).
    sigma, sigma_a, p_on, p_off = 0.3, 0.2, 0.05, 0.04
    core = CoreConfig(axons=32, neurons=16, lanes=4, w_bits=8, v_bits=16)
    chip = ChipConfig(name="t", mesh_rows=1, mesh_cols=2, core=core).replace(
        core_type="rram",
        rram=RramConfig(levels=129, variation=True, variation_sigma=sigma, array_variation=True, array_sigma=sigma_a,
                        read_noise=False, stuck_faults=True, stuck_on_rate=p_on, stuck_off_rate=p_off,
                        finite_on_off=True, ir_drop=False, adc_mux=4))
    w = np.random.default_rng(2).integers(-128, 128, (20, 11)).astype(np.int32)
    cp = CoreProgram(core=1, stage=0, weights=w, bias=np.zeros(11, np.int32), threshold=1, output_offset=0)
    seed = 2**35 + 3
    cb = sample_crossbar(cp, chip, seed)

    rng = numpy_generator([seed, 0, 1])
    z = rng.standard_normal((32, 16, 2))[:20, :11]
    u = rng.random((32, 16, 2))[:20, :11]
    factor = np.exp(sigma_a * numpy_generator([seed, 2, 1]).standard_normal())
    g_on, g_off = 100.0, 100.0 / 20
    # W_c = 128 and L - 1 = 128: level = |w|, G = G_off + |w| (G_on - G_off) / 128 for the signed column
    g_t = g_off + np.abs(w) * (g_on - g_off) / 128
    g_plus_t = np.where(w > 0, g_t, g_off)
    on, off = u < p_on, (u >= p_on) & (u < p_on + p_off)
    want = np.where(on[..., 0], g_on, np.where(off[..., 0], g_off, g_plus_t * np.exp(sigma * z[..., 0]))) * factor
    assert np.allclose(cb.g_plus_us, want, rtol=1e-13, atol=0)
    assert np.array_equal(cb.fault == FAULT_STUCK_ON, on) and np.array_equal(cb.fault == FAULT_STUCK_OFF, off)
    assert on.sum() > 0 and off.sum() > 0  # both fault kinds occur in these 440 cells


def test_a_draw_cache_changes_nothing():
    # The same instance at another sigma, from cached draws, equals a fresh draw at that sigma.
    chip = rram_chip(variation=True, variation_sigma=0.1, stuck_faults=True, stuck_on_rate=0.02, ir_drop=True,
                     finite_on_off=True, array_variation=True, array_sigma=0.2)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=3)
    cache: dict = {}
    program_chip(prog, 5, draw_cache=cache)
    assert len(cache) == len(prog.cores)
    other = dataclasses.replace(prog, chip=chip.replace(rram=dataclasses.replace(chip.rram, variation_sigma=0.3)))
    cached, fresh = program_chip(other, 5, draw_cache=cache), program_chip(other, 5)
    for a, b in zip(cached.crossbars, fresh.crossbars):
        assert np.array_equal(a.g_read_plus_us, b.g_read_plus_us) and np.array_equal(a.fault, b.fault)
    base = program_chip(prog, 5)
    assert not np.array_equal(base.crossbars[0].g_plus_us, fresh.crossbars[0].g_plus_us)  # sigma mattered



def test_numpy_twins_are_drop_in_replacements_at_the_call_sites(monkeypatch):
    """Without Numba's private ziggurat tables the kernels module binds the NumPy twins instead
    (hwsim/kernels/random.py, GIL_FREE_STREAMS); the chip and its results must not change."""
    from hwsim.rram import run_rram

    chip_config = rram_chip(read_noise=True, variation=True, stuck_faults=True, array_variation=True)
    _, program = mapped(chip_config, [24, 12, 5])
    raster = (np.random.default_rng(3).random((6, 4, program.n_inputs)) < 0.4).astype(np.uint8)

    def build_and_run():
        chip = program_chip(program, seed=11)
        return chip, run_rram(chip, raster, threads=2)

    fast_chip, fast = build_and_run()
    calls = {}

    def counted(name):
        twin = getattr(reference, name)

        def call(*args):
            calls[name] = calls.get(name, 0) + 1
            return twin(*args)

        return call

    for name in ("standard_normals", "read_noise_fill", "device_draws"):
        monkeypatch.setattr(kernels, name, counted(name))
    slow_chip, slow = build_and_run()
    assert set(calls) == {"standard_normals", "read_noise_fill", "device_draws"}  # every call site took the twin
    for a, b in zip(fast_chip.crossbars, slow_chip.crossbars):
        np.testing.assert_array_equal(a.g_read_plus_us, b.g_read_plus_us)
        np.testing.assert_array_equal(a.g_read_minus_us, b.g_read_minus_us)
    for field in ("output_spikes", "output_membranes", "counters", "timestep_cycles"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
    assert fast.counter("output_spikes").sum() > 0  # the case is not trivially silent
