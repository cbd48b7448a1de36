"""Block test of ``rtl/snn_lane_acc.v``: the ``LANES`` saturating weight adders of INTEGRATE.

Every lane must give ``hwsim.golden.core.saturate(v + w, v_bits)`` (chip-spec
§2.2 step 2: saturate after every single add), and pass its membrane through
unchanged when the lane is idle. Membranes and weights at and near both rails
and at random; the test counts how often each rail clamped and requires
both to have been hit.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, pack_signed, run_block, unpack_signed
from hwsim.config import CoreConfig, load_chip_config
from hwsim.golden import saturate

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["expected_lane"]

pytestmark = pytest.mark.rtl

VECTORS = 600


def expected_lane(v: int, w: int, *, v_bits: int, enabled: bool) -> int:
    """A lane's membrane after adding one weight, by the golden model's saturation."""
    return saturate(v + w, v_bits) if enabled else v


if cocotb is not None:

    @cocotb.test()
    async def lane_acc_vectors(dut) -> None:
        """Random and rail vectors through every lane; both saturation rails must be hit."""
        from cocotb.triggers import Timer

        params = block_parameters(dut)
        P, wb, vb = params["LANES"], params["W_BITS"], params["V_BITS"]
        vmin, vmax = -(1 << (vb - 1)), (1 << (vb - 1)) - 1
        wmin, wmax = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        rng = np.random.default_rng(block_seed())
        v_rails = np.array([vmin, vmin + 1, vmin - wmin - 1, vmin - wmin, -1, 0, 1, vmax - wmax, vmax - wmax + 1,
                            vmax - 1, vmax])
        w_rails = np.array([wmin, wmin + 1, -1, 0, 1, wmax - 1, wmax])
        clamps = {"low": 0, "high": 0}
        for n in range(VECTORS):
            if n % 2 == 0:
                v, w = rng.choice(v_rails, P), rng.choice(w_rails, P)
            else:
                v, w = rng.integers(vmin, vmax + 1, P), rng.integers(wmin, wmax + 1, P)
            lane_en = (rng.random(P) < 0.85).astype(int)
            dut.v_in.value = pack_signed(v.tolist(), vb, P)
            dut.w_in.value = pack_signed(w.tolist(), wb, P)
            dut.lane_en.value = pack_signed(lane_en.tolist(), 1, P)
            await Timer(1, "ns")
            got = unpack_signed(int(dut.v_out.value), vb, P)
            for lane in range(P):
                vi, wi, en = int(v[lane]), int(w[lane]), bool(lane_en[lane])
                exp = expected_lane(vi, wi, v_bits=vb, enabled=en)
                assert got[lane] == exp, (
                    f"vector {n}, lane {lane}: v={vi} w={wi} enabled={en}: expected {exp}, RTL got {got[lane]}"
                )
                if en and vi + wi < vmin:
                    clamps["low"] += 1
                if en and vi + wi > vmax:
                    clamps["high"] += 1
        assert clamps["low"] > 0 and clamps["high"] > 0, f"both rails must be exercised: {clamps}"


CONFIGS = {
    "small": lambda: load_chip_config("small").core,
    "default_28nm": lambda: load_chip_config("default_28nm").core,
    "one-lane-narrowest": lambda: CoreConfig(axons=1, neurons=1, lanes=1, w_bits=2, v_bits=4),
    "odd-widths": lambda: CoreConfig(axons=100, neurons=25, lanes=5, w_bits=7, v_bits=13),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_snn_lane_acc_runner(request: pytest.FixtureRequest, config: str) -> None:
    """Build ``snn_lane_acc`` with the config's LANES / W_BITS / V_BITS and run the vector test."""
    hdl = CONFIGS[config]().to_hdl_params()
    params = {k: hdl[k] for k in ("LANES", "W_BITS", "V_BITS")}
    run_block(request.node.name, toplevel="snn_lane_acc", test_module="test_snn_lane_acc", params=params,
              seed=len(config))
