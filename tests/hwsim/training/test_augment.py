"""``--augment``: the grammar and its errors, shift and flip on hand-worked images, seeded determinism, and that
only training batches are augmented."""

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import InputError
from hwsim.training.augment import (
    MAX_SHIFT,
    Augmentation,
    augment_generator,
    augment_levels,
    flip_images,
    parse_augment,
    shift_images,
)
from hwsim.training.trainer import fit

IMAGE = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)


# ------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "text, shift, flip, canonical",
    [
        ("shift:2,flip", 2, True, "shift:2,flip"),
        ("flip,shift:2", 2, True, "shift:2,flip"),
        (" flip ", 0, True, "flip"),
        ("shift:1", 1, False, "shift:1"),
        (f"SHIFT:{MAX_SHIFT}", MAX_SHIFT, False, f"shift:{MAX_SHIFT}"),
        ("", 0, False, ""),
        (None, 0, False, ""),
    ],
)
def test_parse_augment(text, shift, flip, canonical):
    aug = parse_augment(text)
    assert (aug.shift, aug.flip) == (shift, flip)
    assert aug.text() == canonical
    assert aug.active == (shift > 0 or flip)


@pytest.mark.parametrize(
    "text, says",
    [
        ("shift", "'shift' needs the largest shift in pixels, e.g. shift:2"),
        ("shift:0", "'shift:0': the shift must be an integer in 1..64"),
        ("shift:-1", "'shift:-1': the shift must be an integer in 1..64"),
        ("shift:1.5", "'shift:1.5': the shift must be an integer in 1..64"),
        (f"shift:{MAX_SHIFT + 1}", f"the shift must be an integer in 1..{MAX_SHIFT}"),
        ("flip:1", "'flip:1': flip takes no value"),
        ("rotate:10", "unknown item 'rotate:10'"),
        ("shift:2,,flip", "unknown item ''"),
        ("flip,flip", "item 'flip' is given twice"),
        ("shift:1,shift:2", "item 'shift' is given twice"),
    ],
)
def test_parse_augment_errors_name_the_item_and_what_is_allowed(text, says):
    with pytest.raises(InputError) as err:
        parse_augment(text)
    message = str(err.value)
    assert says in message
    assert "allowed items: shift:N (N an integer in 1..64), flip" in message


def test_shift_must_be_smaller_than_the_image():
    Augmentation(shift=7).check_image((8, 8))
    with pytest.raises(InputError, match="the images are 8x8; the shift must be smaller than 8 pixels"):
        Augmentation(shift=8).check_image((8, 8))


# ------------------------------------------------------------- hand-worked shift and flip


@pytest.mark.parametrize(
    "dy, dx, expected",
    [
        (0, 0, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        (1, 0, [[0, 0, 0], [1, 2, 3], [4, 5, 6]]),  # content moves down one row
        (0, -1, [[2, 3, 0], [5, 6, 0], [8, 9, 0]]),  # content moves left one column
        (-1, 1, [[0, 4, 5], [0, 7, 8], [0, 0, 0]]),  # up one row and right one column
        (2, 2, [[0, 0, 0], [0, 0, 0], [0, 0, 1]]),
    ],
)
def test_shift_hand_worked(dy, dx, expected):
    out = shift_images(IMAGE[None], [dy], [dx])
    np.testing.assert_array_equal(out[0], expected)
    assert out.dtype == IMAGE.dtype


def test_shift_each_image_of_a_batch_by_its_own_offset():
    batch = np.stack([IMAGE, IMAGE + 10, IMAGE + 20])
    out = shift_images(batch, [1, 0, -2], [0, -1, 0])
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out[1], [[12, 13, 0], [15, 16, 0], [18, 19, 0]])
    np.testing.assert_array_equal(out[2], [[27, 28, 29], [0, 0, 0], [0, 0, 0]])


def test_flip_hand_worked():
    out = flip_images(np.stack([IMAGE, IMAGE]), [True, False])
    np.testing.assert_array_equal(out[0], [[3, 2, 1], [6, 5, 4], [9, 8, 7]])
    np.testing.assert_array_equal(out[1], IMAGE)
    np.testing.assert_array_equal(IMAGE, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])  # the input is not modified


# ------------------------------------------------------------- augment_levels: draws, loops, determinism


def _loop_augment(images, dy, dx, flips):
    """Flip then shift, pixel by pixel: ``out[y, x] = in'[y - dy, x - dx]`` (``in'`` mirrored when flipped)."""
    n, rows, cols = images.shape
    out = np.zeros_like(images)
    for b in range(n):
        for y in range(rows):
            for x in range(cols):
                sy, sx = y - dy[b], x - dx[b]
                if 0 <= sy < rows and 0 <= sx < cols:
                    out[b, y, x] = images[b, sy, cols - 1 - sx if flips[b] else sx]
    return out


def test_augment_levels_equals_pixel_loops_with_the_documented_draws():
    rng_data = np.random.default_rng(5)
    images = rng_data.integers(0, 256, size=(40, 5, 6), dtype=np.uint8)
    flat = images.reshape(40, 30).copy()
    out = augment_levels(flat, (5, 6), Augmentation(shift=2, flip=True), augment_generator(3))
    # the documented order of draws: dy, dx (integers in -2..2), then one uniform per image for the flip
    draws = augment_generator(3)
    dy = draws.integers(-2, 3, size=40)
    dx = draws.integers(-2, 3, size=40)
    flips = draws.random(40) < 0.5
    np.testing.assert_array_equal(out.reshape(40, 5, 6), _loop_augment(images, dy, dx, flips))
    np.testing.assert_array_equal(flat, images.reshape(40, 30))  # the batch itself is left unchanged
    assert 0 < flips.sum() < 40 and len(set(dy)) == 5 and len(set(dx)) == 5


def test_a_single_pixel_lands_within_the_shift_at_every_offset():
    """One bright pixel in the middle of 7x7: after shift:2 it is at most 2 rows and columns away, and all 25
    offsets occur over many images."""
    images = np.zeros((500, 7, 7), np.uint8)
    images[:, 3, 3] = 200
    out = augment_levels(images.reshape(500, 49), (7, 7), Augmentation(shift=2), augment_generator(0))
    out = out.reshape(500, 7, 7)
    assert np.all(np.count_nonzero(out, axis=(1, 2)) == 1)
    ys, xs = np.nonzero(out)[1:]
    assert np.all(np.abs(ys - 3) <= 2) and np.all(np.abs(xs - 3) <= 2)
    assert len(set(zip(ys.tolist(), xs.tolist()))) == 25


def test_augment_levels_is_deterministic_for_a_seed():
    flat = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)
    aug = parse_augment("shift:2,flip")
    a = augment_levels(flat, (8, 8), aug, augment_generator(7))
    b = augment_levels(flat, (8, 8), aug, augment_generator(7))
    c = augment_levels(flat, (8, 8), aug, augment_generator(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert augment_levels(flat, (8, 8), Augmentation(), augment_generator(7)) is flat  # nothing asked, no copy


# ------------------------------------------------------------- in training


def _fit(**kw):
    return fit("digits", hidden=(16,), timesteps=2, epochs=3, seed=2, evaluate=False, **kw).network


def test_training_with_augmentation_is_deterministic_and_differs_from_without():
    a, b = _fit(augment="shift:1,flip"), _fit(augment="flip,shift:1")
    plain = _fit()
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weights, lb.weights)
        np.testing.assert_array_equal(la.bias, lb.bias)
    assert not np.array_equal(a.layers[0].weights, plain.layers[0].weights)
    assert a.metadata["provenance"]["config"]["augment"] == "shift:1,flip"
    assert "augment" not in plain.metadata["provenance"]["config"]  # provenance of plain runs as before


def test_conv_training_with_augmentation_is_deterministic():
    kw = dict(arch="2C3s2-MP2-10", timesteps=2, mode="continuous", epochs=1, seed=1, evaluate=False,
              augment="shift:2")
    a, b = fit("digits", **kw).network, fit("digits", **kw).network
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weights, lb.weights)


def test_evaluation_is_not_augmented():
    """With no training step (--epochs 0 from a trained network), accuracies with and without --augment agree:
    the evaluation images are never augmented."""
    net = fit("digits", hidden=(16,), timesteps=2, epochs=3, seed=0).network
    plain = fit("digits", hidden=(16,), timesteps=2, epochs=0, init=net).network.metadata["results"]
    augmented = fit("digits", hidden=(16,), timesteps=2, epochs=0, init=net,
                    augment="shift:3,flip").network.metadata["results"]
    for key in ("float_train_accuracy", "float_test_accuracy", "chip_train_accuracy", "chip_test_accuracy"):
        assert plain[key] == augmented[key]
    assert plain["chip_test_accuracy"] == net.metadata["results"]["chip_test_accuracy"]


def test_cli_refuses_a_bad_augment_before_training(tmp_path, capsys):
    assert main(["train", "--augment", "shift:2,mirror", "-o", str(tmp_path / "n.npz")]) == 2
    err = capsys.readouterr().err
    assert "--augment 'shift:2,mirror': unknown item 'mirror'; allowed items: shift:N" in err
    assert main(["train", "--dataset", "digits", "--augment", "shift:8", "--epochs", "1", "--no-progress",
                 "-o", str(tmp_path / "n.npz")]) == 2
    assert "the images are 8x8; the shift must be smaller than 8 pixels" in capsys.readouterr().err
    assert not (tmp_path / "n.npz").exists()


def test_help_says_flip_is_not_for_digits(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--augment SPEC" in text and "not for digits" in text and "shift:2,flip" in text
