"""Random networks and rasters for tests, benchmarks and co-simulation, and file surgery for error tests.

Everything random here is drawn from a NumPy ``Generator`` so a seed reproduces it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hwsim.config import CoreConfig
from hwsim.network import Layer, Network

__all__ = ["random_network", "random_raster", "rewrite_npz_header"]


def random_network(
    rng: np.random.Generator,
    sizes: Sequence[int],
    core: CoreConfig,
    *,
    integration: str = "discontinuous",
    reset: str = "subtract",
    leak_shift: int = 0,
    threshold: int | None = None,
    fire_output: bool = True,
    weight_range: tuple[int, int] | None = None,
    bias_range: tuple[int, int] | None = None,
) -> Network:
    """A feed-forward network ``sizes[0] -> ... -> sizes[-1]`` with random chip integers.

    Weights are uniform over ``weight_range`` (the full ``w_bits`` range by
    default), biases over ``bias_range`` (a small range by default), and the
    threshold, when not given, is drawn so that neurons fire sometimes.
    """
    wlo, whi = weight_range if weight_range is not None else (core.w_min, core.w_max)
    blo, bhi = bias_range if bias_range is not None else (-(1 << (core.w_bits - 2)), 1 << (core.w_bits - 2))
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = k == len(sizes) - 2
        th = threshold
        if th is None:
            th = int(rng.integers(0, max(1, core.w_max * 4)))
        layers.append(
            Layer(
                weights=rng.integers(wlo, whi + 1, size=(n_in, n_out)).astype(np.int32),
                bias=rng.integers(blo, bhi + 1, size=n_out).astype(np.int32),
                threshold=min(th, core.v_max),
                leak_shift=leak_shift,
                integration=integration,
                reset=reset,
                fire=fire_output or not last,
                name=f"fc{k}",
            )
        )
    return Network(layers=layers, metadata={"name": "random", "w_bits": core.w_bits, "v_bits": core.v_bits})


def random_raster(rng: np.random.Generator, batch: int, timesteps: int, n_inputs: int, p: float) -> np.ndarray:
    """``(batch, timesteps, n_inputs)`` uint8 spikes, each 1 with probability ``p``."""
    return (rng.random((batch, timesteps, n_inputs)) < p).astype(np.uint8)


def rewrite_npz_header(src: str | Path, dst: str | Path, edit: Callable[[dict], object]) -> Path:
    """Copy a saved program or network file, replacing its JSON header with ``edit(header)``.

    For tests of malformed files: the arrays stay as they are, the header can become anything JSON.
    """
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = edit(json.loads(bytes(arrays["header"]).decode()))
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(dst, **arrays)
    return Path(dst)
