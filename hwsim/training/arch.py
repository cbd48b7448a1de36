"""Network architectures in the notation of the SNN papers, e.g. ``16C5-MP2-32C5-MP2-10``.

Items are separated by ``-``; letters may be upper or lower case:

- ``NCk``: convolution with ``N`` output channels and a ``k x k`` kernel, stride 1 and 'same'
  padding ``(k - 1) // 2`` (the output keeps the input's rows and columns for odd ``k``).
  ``NCksSpP`` sets stride ``S`` and padding ``P`` (either may be given alone, e.g. ``16C5s2`` or
  ``16C5p0``); the output is ``floor((H + 2P - k) / S) + 1`` rows, as in PyTorch.
- ``Pk`` or ``MPk``: ``k x k`` max pooling, stride ``k``; ``APk``: ``k x k`` average (sum) pooling,
  stride ``k``. Rows and columns that do not fill a window are dropped, as in PyTorch.
- ``N`` (a bare number): a fully connected layer of ``N`` neurons; it reads the previous layer
  flattened in C-order, ``(c * rows + y) * cols + x``.

The last item is the output layer: a bare number equal to the dataset's number of classes. Every
item becomes one spiking chip layer (:mod:`hwsim.training.conv` explains how pooling is computed
exactly on the chip). The input is the image as one channel, ``(1, rows, cols)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hwsim.errors import InputError

__all__ = ["Conv", "Pool", "Dense", "PlannedLayer", "parse_arch", "plan_arch", "arch_text", "MAX_CHANNELS",
           "avg_pool_threshold", "ALLOWED_ITEMS"]

#: Largest channel count, kernel, stride, padding and dense width the notation accepts (a chip core holds at most
#: 4096 neurons; anything larger is a typo rather than a network hwsim can train in NumPy).
MAX_CHANNELS = 4096
MAX_KERNEL = 64
MAX_STRIDE = 64

ALLOWED_ITEMS = ("NCk[sS][pP] (convolution: N channels, k x k kernel, optional stride S and padding P), "
                 "Pk or MPk (k x k max pooling), APk (k x k average pooling), N (dense layer of N neurons)")

_CONV = re.compile(r"^(\d+)C(\d+)(?:S(\d+))?(?:P(\d+))?$", re.IGNORECASE)
_POOL = re.compile(r"^(M|A)?P(\d+)$", re.IGNORECASE)
_DENSE = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Conv:
    """``NCk``: ``channels`` output channels, ``kernel x kernel``, ``stride``, zero ``padding`` on every side."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0

    def text(self) -> str:
        same = self.stride == 1 and self.padding == (self.kernel - 1) // 2
        return f"{self.channels}C{self.kernel}" + ("" if same else f"s{self.stride}p{self.padding}")


@dataclass(frozen=True)
class Pool:
    """``MPk`` / ``APk``: ``kind`` is ``"max"`` or ``"avg"``; window and stride ``size``."""

    kind: str
    size: int

    def text(self) -> str:
        return ("MP" if self.kind == "max" else "AP") + str(self.size)


@dataclass(frozen=True)
class Dense:
    """A bare number: a fully connected layer of ``units`` neurons."""

    units: int

    def text(self) -> str:
        return str(self.units)


Item = Conv | Pool | Dense


def _number(arch: str, k: int, item: str, what: str, text: str, lo: int, hi: int) -> int:
    value = int(text)
    if not lo <= value <= hi:
        raise InputError(f"--arch {arch!r}: item {k} {item!r}: {what} {value}, allowed {lo}..{hi}")
    return value


def parse_arch(arch: str) -> tuple[Item, ...]:
    """Parse the notation; raises :class:`InputError` naming the item and what is allowed.

    Checks the syntax and the numbers only; :func:`plan_arch` checks the shapes against an image.
    """
    if not isinstance(arch, str) or not arch.strip():
        raise InputError(f"--arch {arch!r}: empty; expected items separated by '-', e.g. 16C5-MP2-32C5-MP2-10")
    items: list[Item] = []
    parts = arch.strip().split("-")
    for k, raw in enumerate(parts, 1):
        item = raw.strip()
        if not item:
            raise InputError(f"--arch {arch!r}: item {k} is empty (two '-' in a row, or one at an end); "
                             f"allowed items: {ALLOWED_ITEMS}")
        if m := _CONV.match(item):
            channels = _number(arch, k, item, "channels", m[1], 1, MAX_CHANNELS)
            kernel = _number(arch, k, item, "kernel", m[2], 1, MAX_KERNEL)
            stride = 1 if m[3] is None else _number(arch, k, item, "stride", m[3], 1, MAX_STRIDE)
            padding = (kernel - 1) // 2 if m[4] is None else _number(arch, k, item, "padding", m[4], 0, kernel - 1)
            items.append(Conv(channels, kernel, stride, padding))
        elif m := _POOL.match(item):
            size = _number(arch, k, item, "pooling window", m[2], 1, MAX_KERNEL)
            items.append(Pool("avg" if (m[1] or "").upper() == "A" else "max", size))
        elif _DENSE.match(item):
            items.append(Dense(_number(arch, k, item, "neurons", item, 1, MAX_CHANNELS)))
        else:
            raise InputError(f"--arch {arch!r}: item {k} {item!r} is not a layer; allowed items: {ALLOWED_ITEMS}")
    if not isinstance(items[-1], Dense):
        raise InputError(f"--arch {arch!r}: the last item {parts[-1].strip()!r} must be the output layer, "
                         "a bare number of neurons (the number of classes)")
    for k, (prev, item) in enumerate(zip(items, items[1:]), 2):
        if isinstance(prev, Dense) and not isinstance(item, Dense):
            raise InputError(f"--arch {arch!r}: item {k} {parts[k - 1].strip()!r} follows a dense layer; "
                             "convolutions and pooling must come before the dense layers")
    return tuple(items)


def arch_text(items: tuple[Item, ...]) -> str:
    """The canonical notation of parsed items (max pooling as ``MPk``, default padding omitted)."""
    return "-".join(item.text() for item in items)


def avg_pool_threshold(size: int) -> int:
    """Threshold of the spiking layer that computes ``APk``: ``ceil(k*k / 2)``, i.e. it spikes when at least
    half of the window's inputs spiked in this timestep (2 of 4 for ``AP2``)."""
    return math.ceil(size * size / 2)


@dataclass(frozen=True)
class PlannedLayer:
    """One chip layer of a planned network.

    Attributes:
        item: The parsed item.
        in_shape: ``(channels, rows, cols)`` of the input, or ``(n,)`` for a flat input.
        out_shape: ``(channels, rows, cols)`` of a convolution or pooling, ``(n,)`` for a dense layer.
        index: Position of the layer (0 = first).
    """

    item: Item
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    index: int

    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.out_shape)

    @property
    def trainable(self) -> bool:
        """Convolutions and dense layers have trained weights; pooling is a fixed-weight layer."""
        return not isinstance(self.item, Pool)

    @property
    def fan_in(self) -> int:
        """Inputs of one neuron: ``C_in * k * k`` for a convolution, ``k * k`` for pooling, ``n_in`` for dense."""
        if isinstance(self.item, Conv):
            return self.in_shape[0] * self.item.kernel**2
        if isinstance(self.item, Pool):
            return self.item.size**2
        return self.n_in


def plan_arch(items: tuple[Item, ...], image_shape: tuple[int, int], n_classes: int,
              arch: str | None = None) -> list[PlannedLayer]:
    """Shapes of every layer for a one-channel ``image_shape`` input; raises :class:`InputError` when a
    window does not fit its input or the output layer does not have ``n_classes`` neurons."""
    arch = arch if arch is not None else arch_text(items)
    shape: tuple[int, ...] = (1, int(image_shape[0]), int(image_shape[1]))
    plan = []
    for k, item in enumerate(items):
        if isinstance(item, Conv):
            c, h, w = shape
            oh = (h + 2 * item.padding - item.kernel) // item.stride + 1
            ow = (w + 2 * item.padding - item.kernel) // item.stride + 1
            if oh < 1 or ow < 1:
                raise InputError(f"--arch {arch!r}: item {k + 1} {item.text()!r}: its {item.kernel}x{item.kernel} "
                                 f"kernel (padding {item.padding}) does not fit the {h}x{w} input")
            out: tuple[int, ...] = (item.channels, oh, ow)
        elif isinstance(item, Pool):
            c, h, w = shape
            if item.size > h or item.size > w:
                raise InputError(f"--arch {arch!r}: item {k + 1} {item.text()!r}: the {item.size}x{item.size} "
                                 f"window does not fit the {h}x{w} input")
            out = (c, h // item.size, w // item.size)
        else:
            out = (item.units,)
        plan.append(PlannedLayer(item, shape, out, k))
        shape = out
    if plan[-1].n_out != n_classes:
        raise InputError(f"--arch {arch!r}: the output layer has {plan[-1].n_out} neurons but the dataset has "
                         f"{n_classes} classes; end the notation with -{n_classes}")
    return plan
