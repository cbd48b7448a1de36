"""Input encoders (chip-spec §3): exact values, statistics, seeds and batch-position independence."""

import numpy as np
import pytest

from hwsim.encoding import (
    as_raster_batch,
    encode,
    latency_encode,
    regular_encode,
    rate_encode,
    threshold_encode,
    to_levels,
)
from hwsim.errors import InputError


def test_levels_round_to_nearest_8_bit():
    x = np.array([[0.0, 1.0, 0.5, 1 / 255, 0.498, 0.25]])
    # 0.5 * 255 = 127.5 rounds to even (128); 0.498 * 255 = 126.99 -> 127; 0.25 * 255 = 63.75 -> 64
    assert to_levels(x).tolist() == [[0, 255, 128, 1, 127, 64]]


def test_rate_matches_spec_recipe():
    rng = np.random.default_rng(0)
    images = rng.random((3, 20))
    seed, T = 42, 5
    out = rate_encode(images, T, seed=seed, first_index=7)
    for k in range(3):
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7 + k])))
        r = gen.integers(0, 256, size=(T, 20), dtype=np.uint8)
        q = np.rint(images[k] * 255).astype(np.uint8)
        np.testing.assert_array_equal(out[k], (r < q).astype(np.uint8))
    assert out.shape == (3, T, 20) and out.dtype == np.uint8


def test_rate_statistics():
    # pixel with level q spikes with probability q / 256 (r uniform over 0..255)
    levels = np.array([0, 1, 64, 128, 200, 255])
    images = np.tile(levels / 255.0, (40, 1))
    out = rate_encode(images, 500, seed=3)
    rate = out.mean(axis=(0, 1))
    n = 40 * 500
    expected = levels / 256.0
    assert rate[0] == 0.0
    for p_hat, p in zip(rate[1:], expected[1:]):
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(p_hat - p) < 5 * sigma + 1e-9


def test_rate_seed_reproducible_and_batch_position_independent():
    rng = np.random.default_rng(1)
    images = rng.random((6, 30))
    a = rate_encode(images, 4, seed=9)
    np.testing.assert_array_equal(a, rate_encode(images, 4, seed=9))
    # image 4 alone, told its global index, gets the same raster as inside the batch
    np.testing.assert_array_equal(rate_encode(images[4:5], 4, seed=9, first_index=4)[0], a[4])
    # streaming in chunks equals one batch
    chunks = np.concatenate([rate_encode(images[i:i + 2], 4, seed=9, first_index=i) for i in range(0, 6, 2)])
    np.testing.assert_array_equal(chunks, a)
    assert not np.array_equal(a, rate_encode(images, 4, seed=10))


def test_threshold_exact():
    images = np.array([[0.0, 0.49, 0.498, 0.5, 0.51, 1.0]])
    out = threshold_encode(images, 3)
    assert out.shape == (1, 3, 6)
    for t in range(3):
        assert out[0, t].tolist() == [0, 0, 0, 1, 1, 1]


def test_latency_exact():
    # levels 255, 128, 1, 0 with T = 4: floor((255 - q) * 4 / 256) = 0, 1, 3, never
    images = np.array([[1.0, 128 / 255, 1 / 255, 0.0]])
    out = latency_encode(images, 4)
    expected = np.zeros((4, 4), np.uint8)
    expected[0, 0] = expected[1, 1] = expected[3, 2] = 1
    np.testing.assert_array_equal(out[0], expected)
    # every non-zero pixel spikes exactly once, for any T
    rng = np.random.default_rng(2)
    imgs = rng.random((5, 50))
    for T in (1, 2, 7, 16):
        counts = latency_encode(imgs, T).sum(axis=1)
        np.testing.assert_array_equal(counts, (to_levels(imgs) > 0).astype(int))


def _integrate_and_fire(level: int, timesteps: int) -> list[int]:
    """The spec's encoder neuron step by step: start at 128, add the level, spike and subtract 256 at 256."""
    accumulator, spikes = 128, []
    for _ in range(timesteps):
        accumulator += level
        spikes.append(int(accumulator >= 256))
        accumulator -= 256 * spikes[-1]
    return spikes


def test_regular_hand_worked():
    # levels 0, 100, 128, 255 (intensities 0, 100/255, 0.5, 1) at T = 8, worked on paper:
    # 100: 228, 328 -> spike (72), 172, 272 -> spike (16), 116, 216, 316 -> spike (60), 160
    out = regular_encode(np.array([[0.0, 100 / 255, 0.5, 1.0]]), 8)[0].T
    assert out.tolist() == [[0] * 8, [0, 1, 0, 1, 0, 0, 1, 0], [1, 0] * 4, [1] * 8]


def test_regular_is_the_integrate_and_fire_encoder_and_its_count_rounds_the_rate():
    levels = np.arange(256)
    for T in (1, 3, 8, 16, 200):
        out = regular_encode(levels[None, :] / 255.0, T)[0]
        for q in levels:
            assert out[:, q].tolist() == _integrate_and_fire(int(q), T), (T, q)
        # q T / 256 rounded half up
        np.testing.assert_array_equal(out.sum(axis=0), np.floor(levels * T / 256 + 0.5).astype(int))


def test_regular_first_timesteps_do_not_depend_on_T():
    images = np.random.default_rng(3).random((4, 30))
    long = regular_encode(images, 40)
    for t in (1, 7, 39):
        np.testing.assert_array_equal(long[:, :t], regular_encode(images, t))


def test_encode_dispatch_and_errors():
    images = np.array([[0.2, 0.9]])
    np.testing.assert_array_equal(encode(images, 2, "threshold"), threshold_encode(images, 2))
    np.testing.assert_array_equal(encode(images, 2, "latency"), latency_encode(images, 2))
    np.testing.assert_array_equal(encode(images, 2, "rate", seed=5), rate_encode(images, 2, seed=5))
    np.testing.assert_array_equal(encode(images, 2, "regular"), regular_encode(images, 2))
    with pytest.raises(InputError, match="encoding = 'poisson': allowed rate, threshold, latency, regular"):
        encode(images, 2, "poisson")
    with pytest.raises(InputError, match=r"in \[0, 1\]; got min -0.1"):
        encode(np.array([[-0.1, 0.5]]), 2)
    with pytest.raises(InputError, match="timesteps = 0: expected an integer in 1..4096"):
        encode(images, 0)
    with pytest.raises(InputError, match="shape"):
        encode(np.zeros((2, 2, 2)), 2)


def test_as_raster_batch_checks():
    assert as_raster_batch(np.ones((3, 4), bool), 4).shape == (1, 3, 4)
    with pytest.raises(InputError, match="binary"):
        as_raster_batch(np.full((1, 2, 4), 2), 4)
    with pytest.raises(InputError, match="have 3 inputs; the program expects 4"):
        as_raster_batch(np.zeros((2, 3)), 4)
