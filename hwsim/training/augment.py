"""Data augmentation of training images: random translation and horizontal flip, seeded.

The grammar of ``hwsim train --augment SPEC``: items separated by commas, each at most once, in any order:

- ``shift:N``: translate every image by ``dy`` rows and ``dx`` columns, each drawn uniformly from
  ``-N..N`` (independently, per image and per epoch); pixels shifted in from outside are 0 (black).
  Positive ``dy`` moves the content down, positive ``dx`` to the right:
  ``out[y, x] = in[y - dy, x - dx]``, 0 where ``(y - dy, x - dx)`` is outside the image.
- ``flip``: mirror the image left-right with probability 1/2, ``out[y, x] = in[y, cols - 1 - x]``. Fine
  for clothing (Fashion-MNIST); it makes no sense for digits (a mirrored 2 or 7 is no digit), but it is
  not refused.

An image is flipped first, then shifted. Only the training batches are augmented; the evaluation images
(train and test accuracy) never are. The draws come from a generator of their own, seeded from the
training seed, so a run is reproducible and turning augmentation on leaves the batch order and the input
spike samples of the run unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.errors import InputError

__all__ = ["Augmentation", "parse_augment", "augment_generator", "augment_levels", "shift_images", "flip_images",
           "AUGMENT_HELP", "MAX_SHIFT"]

#: Largest ``shift:N`` the grammar accepts; a shift must also be smaller than the image (checked per dataset).
MAX_SHIFT = 64

AUGMENT_HELP = ("augment the training images (never the evaluation): comma-separated items, each at most once: "
                "shift:N (translate by a random -N..N rows and columns, zero fill), flip (mirror left-right with "
                "probability 1/2; sensible for clothing, not for digits), e.g. shift:2,flip. Seeded from --seed")

# salt of the augmentation generator's seed, so its stream is independent of the training generator's
_AUGMENT_SALT = 0xA06


@dataclass(frozen=True)
class Augmentation:
    """What ``--augment`` asks for: ``shift`` the largest translation in pixels (0 = none), ``flip`` the mirror."""

    shift: int = 0
    flip: bool = False

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.flip

    def text(self) -> str:
        """The canonical ``--augment`` text (``""`` when nothing is augmented)."""
        items = ([f"shift:{self.shift}"] if self.shift else []) + (["flip"] if self.flip else [])
        return ",".join(items)

    def check_image(self, image_shape: tuple[int, int]) -> None:
        """A shift must leave part of the image in view: ``N`` smaller than its rows and columns."""
        rows, cols = int(image_shape[0]), int(image_shape[1])
        if self.shift >= min(rows, cols):
            raise InputError(f"--augment shift:{self.shift}: the images are {rows}x{cols}; the shift must be "
                             f"smaller than {min(rows, cols)} pixels")


_ALLOWED = "allowed items: shift:N (N an integer in 1..{}), flip; comma-separated, each at most once, e.g. shift:2,flip"


def parse_augment(text: str | None) -> Augmentation:
    """``"shift:2,flip"`` -> ``Augmentation(shift=2, flip=True)``; None or ``""`` -> no augmentation.

    Raises:
        InputError: an unknown or repeated item, or a shift that is not an integer in ``1..MAX_SHIFT``,
            naming the item and what is allowed.
    """
    if text is None or text.strip() == "":
        return Augmentation()
    allowed = _ALLOWED.format(MAX_SHIFT)
    shift, flip, seen = 0, False, set()
    for raw in text.split(","):
        item = raw.strip()
        name, sep, value = item.partition(":")
        name = name.strip().lower()
        if name in seen:
            raise InputError(f"--augment {text!r}: item {name!r} is given twice; {allowed}")
        if name == "flip" and not sep:
            flip = True
        elif name == "shift" and sep:
            value = value.strip()
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_SHIFT:
                raise InputError(f"--augment {text!r}: {item!r}: the shift must be an integer in 1..{MAX_SHIFT} "
                                 f"(pixels); {allowed}")
            shift = int(value)
        elif name == "shift":
            raise InputError(f"--augment {text!r}: {item!r} needs the largest shift in pixels, e.g. shift:2; {allowed}")
        elif name == "flip":
            raise InputError(f"--augment {text!r}: {item!r}: flip takes no value; {allowed}")
        else:
            raise InputError(f"--augment {text!r}: unknown item {item!r}; {allowed}")
        seen.add(name)
    return Augmentation(shift=shift, flip=flip)


def augment_generator(seed: int) -> np.random.Generator:
    """The augmentation's own generator for training seed ``seed`` (independent of the training generator)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), _AUGMENT_SALT])))


def shift_images(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """``(B, rows, cols)`` images, image ``b`` translated by ``dy[b]`` rows and ``dx[b]`` columns, zero fill:
    ``out[b, y, x] = images[b, y - dy[b], x - dx[b]]`` where that pixel exists, else 0."""
    images = np.asarray(images)
    n, rows, cols = images.shape
    dy = np.asarray(dy, dtype=np.int64).reshape(n)
    dx = np.asarray(dx, dtype=np.int64).reshape(n)
    pad = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if pad >= max(rows, cols):
        raise InputError(f"shift ({pad} pixels) must be smaller than the {rows}x{cols} images")
    padded = np.zeros((n, rows + 2 * pad, cols + 2 * pad), dtype=images.dtype)
    padded[:, pad : pad + rows, pad : pad + cols] = images
    # source row of output row y is y - dy, at y - dy + pad in the padded image (always inside it)
    src_rows = np.arange(rows)[None, :] - dy[:, None] + pad
    src_cols = np.arange(cols)[None, :] - dx[:, None] + pad
    return padded[np.arange(n)[:, None, None], src_rows[:, :, None], src_cols[:, None, :]]


def flip_images(images: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """``(B, rows, cols)`` images with those where ``flips[b]`` is true mirrored left-right."""
    out = np.array(images, copy=True)
    flips = np.asarray(flips, dtype=bool)
    out[flips] = out[flips][:, :, ::-1]
    return out


def augment_levels(levels: np.ndarray, image_shape: tuple[int, int], augmentation: Augmentation,
                   rng: np.random.Generator) -> np.ndarray:
    """Augment a batch of flat ``(B, rows * cols)`` images (8-bit levels) with draws from ``rng``.

    Per batch, in this order: ``dy`` then ``dx`` (``B`` integers each in ``-N..N``, when shifting), then the
    flips (``B`` uniform draws, flipped where ``< 1/2``, when flipping). Returns a new array; ``levels`` is
    left unchanged.
    """
    if not augmentation.active:
        return levels
    n = levels.shape[0]
    images = np.asarray(levels).reshape(n, int(image_shape[0]), int(image_shape[1]))
    dy = dx = None
    if augmentation.shift:
        dy = rng.integers(-augmentation.shift, augmentation.shift + 1, size=n)
        dx = rng.integers(-augmentation.shift, augmentation.shift + 1, size=n)
    if augmentation.flip:
        images = flip_images(images, rng.random(n) < 0.5)
    if dy is not None:
        images = shift_images(images, dy, dx)
    return np.ascontiguousarray(images.reshape(n, -1))
