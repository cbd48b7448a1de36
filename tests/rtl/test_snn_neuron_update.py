"""Block test of ``rtl/snn_neuron_update.v`` against the golden model's neuron arithmetic.

Random and extreme lane values (membranes and biases at the rails, every leak
shift, thresholds 0 and v_max, both reset modes, fire on and off, idle lanes)
go through the combinational unit; every lane's membrane and spike must equal
``hwsim.golden.core.saturate``/``leak`` applied in chip-spec §2.2 step 3 order.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block
from hwsim.config import load_chip_config
from hwsim.golden import leak, saturate

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["TB", "expected_lane"]

pytestmark = pytest.mark.rtl

VECTORS = 1500


def expected_lane(v: int, bias: int, *, v_bits: int, threshold: int, leak_shift: int, fire: bool,
                  reset_zero: bool, enabled: bool) -> tuple[int, int]:
    """(membrane, spike) of one lane after UPDATE, from the golden model's functions."""
    if not enabled:
        return v, 0
    x = leak(saturate(v + bias, v_bits), leak_shift)
    if fire and x >= threshold:
        return (0 if reset_zero else x - threshold), 1
    return x, 0


def _pack(values, bits: int) -> int:
    word = 0
    for x in reversed(values):
        word = (word << bits) | (int(x) & ((1 << bits) - 1))
    return word


def _signed(word: int, lane: int, bits: int) -> int:
    x = (word >> (lane * bits)) & ((1 << bits) - 1)
    return x - (1 << bits) if x >> (bits - 1) else x


class TB:
    """Drives the combinational unit; reads LANES / V_BITS back from the DUT."""

    def __init__(self, dut) -> None:
        self.dut = dut
        params = block_parameters(dut)
        self.lanes, self.v_bits = params["LANES"], params["V_BITS"]

    async def apply(self, v, bias, lane_en, threshold, leak_shift, fire, reset_zero) -> tuple[int, int]:
        from cocotb.triggers import Timer

        dut = self.dut
        dut.v_in.value = _pack(v, self.v_bits)
        dut.bias.value = _pack(bias, self.v_bits)
        dut.lane_en.value = _pack(lane_en, 1)
        dut.threshold.value = threshold
        dut.leak_shift.value = leak_shift
        dut.fire.value = int(fire)
        dut.reset_zero.value = int(reset_zero)
        await Timer(1, "ns")
        return dut.v_out.value.to_unsigned(), dut.spikes.value.to_unsigned()


if cocotb is not None:

    @cocotb.test()
    async def neuron_update_vectors(dut) -> None:
        """Random and rail vectors, every lane compared with the golden arithmetic."""
        tb = TB(dut)
        P, vb = tb.lanes, tb.v_bits
        vmin, vmax = -(1 << (vb - 1)), (1 << (vb - 1)) - 1
        rng = np.random.default_rng(block_seed())
        rails = np.array([vmin, vmin + 1, -1, 0, 1, vmax - 1, vmax])
        clamps = {"low": 0, "high": 0}  # enabled lanes whose v + bias left the range (chip-spec sat_V)
        for n in range(VECTORS):
            if n % 3 == 0:  # rails and near-rails
                v, bias = rng.choice(rails, P), rng.choice(rails, P)
            else:
                v, bias = rng.integers(vmin, vmax + 1, P), rng.integers(vmin, vmax + 1, P)
            lane_en = (rng.random(P) < 0.9).astype(int)
            threshold = int(rng.choice([0, 1, vmax, int(rng.integers(0, vmax + 1))]))
            leak_shift = n % vb  # every legal shift, 0 .. v_bits-1
            fire, reset_zero = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
            got_v, got_s = await tb.apply(v, bias, lane_en, threshold, leak_shift, fire, reset_zero)
            for lane in range(P):
                exp_v, exp_s = expected_lane(int(v[lane]), int(bias[lane]), v_bits=vb, threshold=threshold,
                                             leak_shift=leak_shift, fire=fire, reset_zero=reset_zero,
                                             enabled=bool(lane_en[lane]))
                rv, rs = _signed(got_v, lane, vb), (got_s >> lane) & 1
                if lane_en[lane]:
                    clamps["low"] += int(v[lane]) + int(bias[lane]) < vmin
                    clamps["high"] += int(v[lane]) + int(bias[lane]) > vmax
                assert (rv, rs) == (exp_v, exp_s), (
                    f"vector {n}, lane {lane}: v={int(v[lane])} bias={int(bias[lane])} th={threshold} "
                    f"leak_shift={leak_shift} fire={fire} reset_zero={reset_zero} en={int(lane_en[lane])}: "
                    f"expected (v, spike) = {(exp_v, exp_s)}, RTL got {(rv, rs)}"
                )
        # Both saturation clamps of the bias add must have been exercised, many times each.
        assert clamps["low"] >= 50 and clamps["high"] >= 50, f"saturation clamps hit: {clamps}"


@pytest.mark.parametrize("preset", ["small", "default_28nm"])
def test_snn_neuron_update_runner(request: pytest.FixtureRequest, preset: str) -> None:
    """Build ``snn_neuron_update`` with the preset's LANES / V_BITS and run the vector test."""
    cc = load_chip_config(preset).core
    hdl = cc.to_hdl_params()
    params = {"LANES": hdl["LANES"], "V_BITS": hdl["V_BITS"], "LS_W": (hdl["V_BITS"] - 1).bit_length()}
    run_block(request.node.name, toplevel="snn_neuron_update", test_module="test_snn_neuron_update",
              params=params, seed=len(preset))
