"""Block test of ``rtl/snn_exit_unit.v``: the early-exit unit (chip-spec §1.4) against ``hwsim.exit_unit.ExitUnit``.

The testbench plays the chip around the unit: it answers every pass-1 read
(``rd_index`` -> ``rd_y``) with the image's output values, writes ``gain_t``
before each timestep as the host does (``ExitRule.gain(n)``), pulses ``go``
and follows the phase cycle by cycle. Per image it clears the accumulators
and runs timesteps until the rule says exit or ``T`` is reached, as the host
does (chip-spec §1.4, "When an image ends"). Expected, every timestep:

* the decision and the counters from the golden unit ``hwsim.exit_unit.ExitUnit``
  (and the exit timestep of every image);
* the phase length ``exit_cycles(rule, K)``, ``last`` only in its final cycle,
  ``rd_index`` running 0..K-1 in the pass-1 cycles;
* every accumulator (read back), top 1 / top 2 / their index, and ``Z``, ``W``,
  ``L_Z`` as chip-spec §1.4 defines them (computed here from the tables).

Images: random output values (membranes over the whole ``V_BITS`` range,
spikes), all three rules, ties, exits at ``t = 1``, no exit until ``T``; and
two sweeps that read every entry of both tables through the unit: ``k`` = 0..100
(``EXP_LUT``, the clamp at 95) and sums ``Z`` whose six bits below the leading one
take every value 0..63 (``LN_LUT``). The tables in the Verilog are generated
from ``hwsim.exit_unit`` by ``rtl/gen_exit_luts.py``; the tests without a
simulator below check that the generated block is current and equal, entry by
entry, to ``EXP_LUT`` / ``LN_LUT``.
"""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest

from harness import REPO, RTL_DIR, block_parameters, block_seed, run_block, start_clock
from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.exit_unit import (
    EXP_LUT,
    LN2_Q8,
    LN_LUT,
    ExitRule,
    ExitUnit,
    exit_counters,
    exit_cycles,
    parse_exit_rule,
)

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["RULE_CODES", "exit_unit_parameters", "reference_scores", "rule_threshold_word"]

RULE_CODES = {"none": 0, "margin": 1, "confidence": 2, "entropy": 3}
DEFAULT_MAX_OUTPUTS = 64  # the RTL default of snn_exit_unit / snn_chip
IMAGES_PER_RULE = 14


def exit_unit_parameters(chip: ChipConfig, max_outputs: int | None = None) -> dict[str, int]:
    """Parameters of ``snn_exit_unit`` as ``snn_chip`` instantiates it for ``chip`` (``V_BITS`` from the core)."""
    params = {"V_BITS": chip.core.v_bits}
    if max_outputs is not None:
        params["MAX_OUTPUTS"] = max_outputs
    return params


def rule_threshold_word(rule: ExitRule) -> int:
    """The 32-bit threshold register: ``z_limit`` above 2^32 - 1 is written as 2^32 - 1 (docs/rtl.md).

    ``Z <= K * 2^16 < 2^32 - 1`` for every ``K <= 65535``, so ``Z < z_limit`` keeps its value.
    """
    return min(rule.threshold, 2**32 - 1)


def reference_scores(rule: ExitRule, acc: list[int], n: int) -> dict[str, int]:
    """Top 1 / top 2 / i1 and ``Z``, ``W``, ``L_Z`` of chip-spec §1.4, written out from the spec's formulas."""
    K = len(acc)
    i1 = min(o for o in range(K) if acc[o] == max(acc))
    top2 = max(acc[o] for o in range(K) if o != i1)
    out = {"top_index": i1, "top1": acc[i1], "top2": top2}
    if rule.rule in ("confidence", "entropy"):
        gain_t = (rule.gain_num + n // 2) // n
        ks = [min(95, (min(acc[i1] - a, 2**24 - 1) * gain_t) // 2**16) for a in acc]
        z = sum(EXP_LUT[k] for k in ks)
        out["z"] = z
        if rule.rule == "entropy":
            out["w"] = sum(EXP_LUT[k] * k for k in ks)
            p = z.bit_length() - 1
            out["l_z"] = (p - 16) * LN2_Q8 + LN_LUT[(z >> (p - 6)) - 64]
    return out


# ----------------------------------------------------------------------------- images
def _rule(kind: str, K: int, rng: np.random.Generator, *, extreme: str | None = None) -> ExitRule:
    """A random rule of ``kind`` for ``K`` outputs; ``extreme`` 'never' / 'always' picks the end of the range."""
    scale = float(2.0 ** rng.uniform(-9, 1))
    if kind == "margin":
        m = {"never": 2**31 - 1, "always": 0}.get(extreme, int(rng.choice([1, 2, 5, 20, 200, 3000, 2**20])))
        return parse_exit_rule(f"margin:{m}", K)
    if kind == "confidence":
        alpha = {"never": "1", "always": f"{1 / K:.6f}"}.get(extreme, str(rng.choice(["0.5", "0.7", "0.9", "0.99"])))
        if extreme == "always":
            alpha = str(float(alpha) - 1e-6)  # a hair below 1/K: every Z < z_limit
        return parse_exit_rule(f"confidence:{alpha}", K, scale)
    h = {"never": "0", "always": "1"}.get(extreme, str(rng.choice(["0.05", "0.2", "0.5", "0.8"])))
    return parse_exit_rule(f"entropy:{h}", K, scale)


def _values(rng: np.random.Generator, T: int, K: int, v_bits: int, style: str) -> list[list[int]]:
    """``(T, K)`` output values of one image: membranes, spikes, ties or extremes."""
    lo, hi = -(2 ** (v_bits - 1)), 2 ** (v_bits - 1) - 1
    if style == "spikes":
        return (rng.random((T, K)) < 0.35).astype(int).tolist()
    if style == "ties":  # few distinct values, so the maximum is often shared
        return rng.choice([lo // 4, 0, 3, 3, hi // 8], size=(T, K)).tolist()
    if style == "extreme":
        return rng.choice([lo, lo + 1, -1, 0, 1, hi - 1, hi], size=(T, K)).tolist()
    if style == "favourite":  # one output leads by a random margin: exits at varied timesteps
        y = rng.integers(-min(-lo, 60), min(hi, 60) + 1, size=(T, K))
        y[:, int(rng.integers(K))] += int(rng.integers(0, min(hi, 40) + 1))
        return np.clip(y, lo, hi).tolist()
    return rng.integers(lo, hi + 1, size=(T, K)).tolist()


def random_images(rng: np.random.Generator, v_bits: int, max_outputs: int) -> list[tuple[ExitRule, list[list[int]]]]:
    """Per rule: images with random K, T, values, thresholds; the extremes ('always' exits at t = 1, 'never')."""
    k_hi = min(max_outputs, 12)
    images = []
    for kind in ("margin", "confidence", "entropy"):
        for i in range(IMAGES_PER_RULE):
            K = max_outputs if i == 0 else int(rng.integers(2, k_hi + 1))
            T = int(rng.integers(1, 9))
            extreme = {1: "always", 2: "never"}.get(i)
            style = ("spikes", "ties", "extreme", "favourite", "favourite", "random")[i % 6]
            images.append((_rule(kind, K, rng, extreme=extreme), _values(rng, T, K, v_bits, style)))
    return images


def exp_sweep_images() -> list[tuple[ExitRule, list[list[int]]]]:
    """One timestep each, K = 2, y = (1, 0), gain_t = k * 2^16: the table index is min(k, 95), k = 0..100."""
    images = []
    for k in range(101):
        z = 65536 + EXP_LUT[min(k, 95)]
        if k % 2:  # entropy: theta around this image's estimate, so the decision goes both ways
            rule = ExitRule("entropy", threshold=(k * 7) % 180, gain_num=k * 65536, text=f"entropy sweep {k}")
        else:
            rule = ExitRule("confidence", threshold=z + (k % 4) - 1, gain_num=k * 65536, text=f"confidence sweep {k}")
        images.append((rule, [[1, 0]]))
    return images


def ln_sweep_images(v_bits: int, max_outputs: int) -> list[tuple[ExitRule, list[list[int]]]]:
    """Entropy images whose Z takes every LN_LUT index 0..63 (Z in [2^16, 2^17), so p = 16).

    Output 0 leads with y = 0; the others have y = -k (gain_t = 2^16, so their table index is k), chosen
    greedily so that sum EXP_LUT[k] lands in [i * 1024, i * 1024 + 1023]: Z >> 10 = 64 + i.
    """
    if v_bits < 8 or max_outputs < 6:
        return []  # y = -95 needs 8 bits; five followers need six outputs
    images = []
    for i in range(64):
        rest, ks = i * 1024 + 512, []
        while rest > 0:
            k = min(k for k in range(1, 96) if EXP_LUT[k] <= rest)
            ks.append(k)
            rest -= EXP_LUT[k]
        z = 65536 + sum(EXP_LUT[k] for k in ks)
        assert (z >> 10) - 64 == i and len(ks) <= 5, (i, ks)
        y = [0] + [-k for k in ks]
        images.append((ExitRule("entropy", threshold=40 + i, gain_num=65536, text=f"ln sweep {i}"), [y]))
    return images


# ----------------------------------------------------------------------------- cocotb side
if cocotb is not None:

    @cocotb.test()
    async def exit_unit_images(dut) -> None:
        """Random images of all three rules and the two table sweeps, every timestep against the golden unit."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        v_bits = params["V_BITS"]
        max_outputs = params.get("MAX_OUTPUTS", DEFAULT_MAX_OUTPUTS)
        acc_bits = v_bits + 13
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)

        def signed(value, bits: int) -> int:
            v = int(value.to_unsigned())
            return v - (1 << bits) if v >> (bits - 1) else v

        for sig in ("rst_n", "clear", "clr", "go", "rule", "n_out", "threshold", "gain_t", "rd_y", "acc_index"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        for _ in range(3):
            await fall
        dut.rst_n.value = 1
        await fall
        # Reset values (docs/rtl.md): idle, no decision, counters 0, reading output 0 first.
        counters = [int(getattr(dut, f"cnt_{n}").value) for n in ("cycles", "acc_updates", "multiplies", "lut_reads")]
        assert (int(dut.busy.value), int(dut.exit.value), int(dut.rd_index.value), counters) == (0, 0, 0, [0] * 4)

        # Rule none: go is ignored, nothing is counted.
        dut.clr.value, dut.go.value, dut.n_out.value = 1, 1, 2
        await fall
        dut.clr.value, dut.go.value = 0, 0
        for _ in range(4):
            assert not int(dut.busy.value) and not int(dut.exit.value), "rule none: the unit must stay idle"
            await fall
        assert int(dut.cnt_cycles.value) == 0

        images = random_images(rng, v_bits, max_outputs)
        n_random = len(images)
        images += ln_sweep_images(v_bits, max_outputs) + exp_sweep_images()
        exits_at = {"first": 0, "middle": 0, "never": 0}
        for im, (rule, values) in enumerate(images):
            T, K = len(values), len(values[0])
            gold = ExitUnit(rule, K)
            mask = (1 << v_bits) - 1
            dut.clear.value = 1
            await fall
            dut.clear.value = 0
            assert not int(dut.exit.value), f"image {im}: the decision must be cleared with the accumulators"
            for o in range(K):  # a cleared image: every accumulator 0
                dut.acc_index.value = o
                await Timer(1, "ps")
                assert int(dut.acc_value.value) == 0, f"image {im}: acc[{o}] not cleared"
            ended = 0
            for t in range(T):
                where = f"image {im} ({rule.text}, K {K}, T {T}), timestep {t}"
                exp_exit, exp_counters = gold.step(values[t])
                dut.rule.value = RULE_CODES[rule.rule]
                dut.n_out.value = K
                dut.threshold.value = rule_threshold_word(rule)
                dut.gain_t.value = rule.gain(t + 1)  # the host's division (0 for margin)
                dut.clr.value, dut.go.value = 1, 1
                await fall  # cycle 0: go sampled
                dut.clr.value, dut.go.value = 0, 0
                cycles, reads = 0, []
                while True:
                    cycles += 1
                    assert int(dut.busy.value), f"{where}: idle in cycle {cycles} of the phase"
                    if int(dut.rd_en.value):
                        o = int(dut.rd_index.value)
                        reads.append(o)
                        dut.rd_y.value = values[t][o] & mask if o < K else 0
                    await Timer(1, "ps")
                    if int(dut.last.value):
                        got_exit = int(dut.exit.value)
                        break
                    assert cycles < 4 * K + 10, f"{where}: no last cycle"
                    await fall
                await fall
                assert not int(dut.busy.value), f"{where}: busy after the last cycle"
                assert reads == list(range(K)), f"{where}: pass-1 reads {reads}, expected 0..{K - 1}"
                assert cycles == exit_cycles(rule.rule, K), (
                    f"{where}: {cycles} cycles, spec {exit_cycles(rule.rule, K)}"
                )
                assert got_exit == int(exp_exit), f"{where}: exit {got_exit}, golden {int(exp_exit)}"
                assert int(dut.exit.value) == got_exit, f"{where}: exit not held after the phase"
                got_counters = tuple(
                    int(getattr(dut, f"cnt_{n}").value) for n in ("cycles", "acc_updates", "multiplies", "lut_reads")
                )
                assert got_counters == exp_counters == exit_counters(rule.rule, K), (
                    f"{where}: counters {got_counters}, golden {exp_counters}"
                )
                for o in range(K):
                    dut.acc_index.value = o
                    await Timer(1, "ps")
                    got = signed(dut.acc_value.value, acc_bits)
                    assert got == gold.acc[o], f"{where}: acc[{o}] = {got}, golden {gold.acc[o]}"
                exp = reference_scores(rule, gold.acc, t + 1)
                got_scores = {
                    "top_index": int(dut.top_index.value),
                    "top1": signed(dut.top1.value, acc_bits),
                    "top2": signed(dut.top2.value, acc_bits),
                }
                for key, sig in (("z", "z_sum"), ("w", "w_sum"), ("l_z", "l_z")):
                    if key in exp:
                        got_scores[key] = int(getattr(dut, sig).value)
                assert got_scores == exp, f"{where}: scores {got_scores}, spec {exp}"
                if exp_exit:
                    ended = t + 1
                    break
            if im < n_random:
                exits_at["never" if not ended else "first" if ended == 1 else "middle"] += 1
        # The random images must have exercised what the test claims.
        assert all(n > 0 for n in exits_at.values()), f"exits per kind: {exits_at}"


# ----------------------------------------------------------------------------- pytest side
BUILDS = {
    # The small preset's 12-bit membranes, the default MAX_OUTPUTS (64 accumulators).
    "small": (lambda: load_chip_config("small"), None),
    # 32-bit membranes: 45-bit accumulators, d far beyond 2^24 (dsat), margins beyond 2^31.
    "v32-16out": (
        lambda: ChipConfig(
            name="v32", mesh_rows=1, mesh_cols=1, core=CoreConfig(axons=8, neurons=4, lanes=2, w_bits=8, v_bits=32)
        ),
        16,
    ),
    # The narrowest membranes and the fewest accumulators (K = 2 only, 1-bit output index).
    "v4-2out": (
        lambda: ChipConfig(
            name="v4", mesh_rows=1, mesh_cols=1, core=CoreConfig(axons=8, neurons=4, lanes=2, w_bits=2, v_bits=4)
        ),
        2,
    ),
}


@pytest.mark.rtl
@pytest.mark.parametrize("build", list(BUILDS))
def test_snn_exit_unit_runner(request: pytest.FixtureRequest, build: str) -> None:
    """Build ``snn_exit_unit`` for the chip's ``V_BITS`` and run the images against the golden unit."""
    make, max_outputs = BUILDS[build]
    params = exit_unit_parameters(make(), max_outputs)
    run_block(
        request.node.name, toplevel="snn_exit_unit", test_module="test_snn_exit_unit", params=params, seed=len(build)
    )


# ----------------------------------------------------------------------------- tables (no simulator)
def _generator():
    # The script lives in the repository's rtl/ (a mutation run copies only the *.v files to its RTL_DIR).
    spec = importlib.util.spec_from_file_location("gen_exit_luts", REPO / "rtl" / "gen_exit_luts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verilog_table(text: str, function: str) -> list[int]:
    """The entries of the generated ``case`` function ``function`` of the Verilog, index order (default last)."""
    body = re.search(rf"function \[\d+:0\] {function};(.*?)endfunction", text, re.S)
    assert body, f"no function {function} in snn_exit_unit.v"
    items = {int(i): int(v) for i, v in re.findall(rf"\d+'d(\d+): {function} = \d+'d(\d+);", body.group(1))}
    default = re.search(rf"default: {function} = \d+'d(\d+);", body.group(1))
    assert default and sorted(items) == list(range(len(items))), f"{function}: cases {sorted(items)}"
    return [items[i] for i in range(len(items))] + [int(default.group(1))]


def test_generated_tables_are_current() -> None:
    """The marked block of rtl/snn_exit_unit.v is exactly what rtl/gen_exit_luts.py writes from hwsim.exit_unit."""
    gen = _generator()
    text = (RTL_DIR / "snn_exit_unit.v").read_text()
    assert gen.replace_block(text, gen.generated_block()) == text, "stale tables: run python rtl/gen_exit_luts.py"
    assert gen.main(["--check"]) == 0


def test_verilog_tables_equal_hwsim_tables() -> None:
    """Entry by entry, the Verilog's EXP_LUT / LN_LUT / LN2_Q8 are hwsim.exit_unit's, which are the spec's formulas."""
    text = (RTL_DIR / "snn_exit_unit.v").read_text()
    exp_v, ln_v = _verilog_table(text, "exp_lut"), _verilog_table(text, "ln_lut")
    assert exp_v == list(EXP_LUT) and len(exp_v) == 96
    assert ln_v == list(LN_LUT) and len(ln_v) == 64
    # chip-spec §1.4, recomputed here: round(2^16 exp(-k/8)), round(256 ln(1 + i/64)), round(256 ln 2)
    assert exp_v == [round(2**16 * math.exp(-k / 8)) for k in range(96)]
    assert ln_v == [round(256 * math.log(1 + i / 64)) for i in range(64)]
    assert re.search(rf"localparam \[8:0\] LN2_Q8 = 9'd{round(256 * math.log(2))};", text)
    # The widths in the Verilog hold the largest entries.
    assert "function [16:0] exp_lut;" in text and max(EXP_LUT) < 2**17
    assert "function [7:0] ln_lut;" in text and max(LN_LUT) < 2**8


def test_generator_refuses_a_file_without_markers() -> None:
    gen = _generator()
    with pytest.raises(ValueError, match="no generated block"):
        gen.replace_block("module x; endmodule\n", gen.generated_block())
