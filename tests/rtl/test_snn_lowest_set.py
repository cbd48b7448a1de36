"""Block test of ``rtl/snn_lowest_set.v``: the two-level priority encoder (index of the lowest set bit).

The spike scan (chip-spec §2.2 step 2) and the router (§1.1) visit set bits in
ascending order through this encoder. Every width the presets use (``AXONS``,
``NEURONS``, ``ROUTES``) plus odd widths around the 32-bit segment size, with
edge vectors (no bit, one bit at every position or at every segment
boundary, all bits, the top bit only) and random vectors of every density.
The expected index is computed here: ``(x & -x).bit_length() - 1``.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block
from hwsim.config import load_chip_config

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["lowest_set", "edge_vectors"]

pytestmark = pytest.mark.rtl

RANDOM_VECTORS = 400


def lowest_set(x: int) -> tuple[bool, int]:
    """(any bit set, index of the lowest set bit or 0)."""
    return (x != 0, (x & -x).bit_length() - 1 if x else 0)


def edge_vectors(width: int) -> list[int]:
    """No bit, all bits, the top bit, one bit at each position (at most 256 of them), segment edges."""
    ones = (1 << width) - 1
    positions = range(width) if width <= 256 else sorted({*range(0, width, max(1, width // 200)), width - 1})
    vectors = [0, ones, 1 << (width - 1)]
    vectors += [1 << i for i in positions]
    for edge in range(32, width, 32):  # a segment boundary: lowest bit just below, at and just above it
        for i in (edge - 1, edge, edge + 1):
            if i < width:
                vectors += [1 << i, ones & ~((1 << i) - 1)]
    return vectors


if cocotb is not None:

    @cocotb.test()
    async def lowest_set_vectors(dut) -> None:
        """Edge and random vectors; ``any`` and ``idx`` against the computed lowest set bit."""
        from cocotb.triggers import Timer

        params = block_parameters(dut)
        width = params["WIDTH"]
        rng = np.random.default_rng(block_seed())
        vectors = edge_vectors(width)
        for n in range(RANDOM_VECTORS):
            density = [0.002, 0.02, 0.2, 0.7][n % 4]
            bits = np.flatnonzero(rng.random(width) < density)
            vectors.append(sum(1 << int(i) for i in bits))
        for x in vectors:
            dut.bits.value = x
            await Timer(1, "ns")
            exp_any, exp_idx = lowest_set(x)
            got_any, got_idx = bool(dut.any.value), int(dut.idx.value)
            assert got_any == exp_any and (not exp_any or got_idx == exp_idx), (
                f"WIDTH {width}, bits {x:#x}: expected any={exp_any} idx={exp_idx}, RTL any={got_any} idx={got_idx}"
            )
            if not exp_any:
                assert got_idx == 0, f"WIDTH {width}: idx must be 0 when no bit is set, RTL gave {got_idx}"


def _widths() -> dict[str, int]:
    small, default = load_chip_config("small").core, load_chip_config("default_28nm").core
    return {
        "one-bit": 1,
        "5": 5,
        "32-one-segment": 32,
        "33-padded": 33,
        "100-padded": 100,
        "small-axons": small.to_hdl_params()["AXONS"],
        "small-neurons": small.to_hdl_params()["NEURONS"],
        "default-axons": default.to_hdl_params()["AXONS"],
        "default-neurons": default.to_hdl_params()["NEURONS"],
    }


@pytest.mark.parametrize("width", list(_widths()))
def test_snn_lowest_set_runner(request: pytest.FixtureRequest, width: str) -> None:
    """Build ``snn_lowest_set`` with the width and run the vector test."""
    w = _widths()[width]
    params = {"WIDTH": w, "IDX_W": max(1, (w - 1).bit_length())}
    run_block(request.node.name, toplevel="snn_lowest_set", test_module="test_snn_lowest_set", params=params,
              seed=w)
