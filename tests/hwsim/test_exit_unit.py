"""The early-exit unit of chip-spec §1.4 on its own: tables, registers, rules, and the engine's kernel.

Expected values are worked out in the comments from the spec's formulas (and checked against float
softmax math where the rule approximates it), not read from the code under test. Every hand case runs
through the golden unit (``ExitUnit``), the Numba kernel and its NumPy twin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwsim.kernels.exit_unit as kernel_module
from hwsim import exit_unit as eu
from hwsim.errors import InputError
from hwsim.exit_unit import (
    EXP_LUT,
    LN2_Q8,
    LN_LUT,
    ExitRule,
    ExitUnit,
    exit_counters,
    exit_cycles,
    ln_q8,
    parse_exit_rule,
)
from hwsim.kernels.exit_unit import RULE_CODES, exit_timesteps_kernel
from hwsim.reference.exit_unit import exit_timesteps_kernel as exit_timesteps_twin
from hwsim.result import EXIT_COUNTER_NAMES

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
S1 = 2**19  # gain_num of scale s = 1.0: one integer step of the output is one nat


# ------------------------------------------------------------------------- tables and registers
def test_exp_table_is_the_rounded_exponential():
    assert len(EXP_LUT) == 96
    assert list(EXP_LUT) == [round(2**16 * math.exp(-k / 8)) for k in range(96)]
    assert EXP_LUT[0] == 65536 and EXP_LUT[95] == 0
    assert all(0 <= e < 2**17 for e in EXP_LUT)  # 96 unsigned 17-bit entries
    assert all(a >= b for a, b in zip(EXP_LUT, EXP_LUT[1:]))


def test_ln_table_is_the_rounded_log_of_the_six_bits_below_the_leading_one():
    assert len(LN_LUT) == 64
    assert list(LN_LUT) == [round(256 * math.log(1 + i / 64)) for i in range(64)]
    assert all(0 <= x < 2**8 for x in LN_LUT)  # 64 unsigned 8-bit entries
    assert LN2_Q8 == round(256 * math.log(2)) == 177


@pytest.mark.parametrize("K", [2, 3, 10, 100, 1000])
def test_cycles_and_counters_follow_the_tables_of_the_spec(K):
    assert exit_cycles("none", K) == 0
    assert exit_cycles("margin", K) == K + 1  # pass 1 (K) + decision (1)
    assert exit_cycles("confidence", K) == 2 * K + 2  # pass 1 (K) + pass 2 (K + 1) + decision (1)
    assert exit_cycles("entropy", K) == 2 * K + 3  # pass 1 (K) + pass 2 (K + 1) + L_Z and compare (2)
    assert exit_counters("none", K) == (0, 0, 0, 0)
    assert exit_counters("margin", K) == (K + 1, K, 0, 0)
    assert exit_counters("confidence", K) == (2 * K + 2, K, K, K)
    assert exit_counters("entropy", K) == (2 * K + 3, K, 2 * K + 2, K + 1)
    for rule in eu.EXIT_RULES:
        assert exit_counters(rule, K)[EXIT_COUNTER_NAMES.index("cycles")] == exit_cycles(rule, K)
    assert EXIT_COUNTER_NAMES == ("cycles", "acc_updates", "multiplies", "lut_reads")


def test_kernel_constants_are_the_spec_constants():
    # The kernel keeps its own copies (Numba freezes globals into the cached code): they must agree.
    assert list(RULE_CODES) == list(eu.EXIT_RULES) and list(RULE_CODES.values()) == [0, 1, 2, 3]
    assert kernel_module._DSAT_MAX == eu.DSAT_MAX == 2**24 - 1
    assert kernel_module._GAIN_FRACTION_BITS == eu.GAIN_FRACTION_BITS == 16
    assert kernel_module._LN2_Q8 == LN2_Q8
    assert (kernel_module._MARGIN, kernel_module._CONFIDENCE) == (RULE_CODES["margin"], RULE_CODES["confidence"])


def test_registers_from_the_rule_text():
    # margin: M as written
    assert parse_exit_rule("margin:7", 10) == ExitRule("margin", 7, 0, "margin:7")
    # confidence: z_limit = ceil(2^16 / ALPHA) exactly: 65536 / 0.9 = 72817.78 -> 72818; 65536 / 0.8 = 81920 exactly
    r = parse_exit_rule("confidence:0.9", 10, scale=1.0)
    assert (r.rule, r.threshold, r.gain_num) == ("confidence", 72818, 2**19)
    assert parse_exit_rule("confidence:0.8", 10, scale=1.0).threshold == 81920
    assert parse_exit_rule("confidence:1", 10, scale=1.0).threshold == 65536
    # gain_num = round(s * 2^19): 0.05 * 524288 = 26214.4 -> 26214
    assert parse_exit_rule("confidence:0.9", 10, scale=0.05).gain_num == 26214
    # entropy: theta = floor(256 * H * ln K): 256 * 0.5 * ln 10 = 294.73 -> 294; 256 * 0.6 * ln 2 = 106.47 -> 106
    assert parse_exit_rule("entropy:0.5", 10, scale=1.0).threshold == 294
    assert parse_exit_rule("entropy:0.6", 2, scale=1.0).threshold == 106
    assert parse_exit_rule(" Entropy : 0.6 ", 2, scale=1.0).threshold == 106  # spaces and case
    # none, None and an ExitRule pass
    assert parse_exit_rule("none", 1) == parse_exit_rule(None, 1) == ExitRule()
    assert not ExitRule().enabled
    rule = ExitRule("margin", 3, 0, "margin:3")
    assert parse_exit_rule(rule, 4) is rule


def test_gain_t_is_the_hosts_rounded_division():
    rule = ExitRule("confidence", 70000, 10, "x")
    # (10 + n // 2) // n: n = 1: 10; 2: 11 // 2 = 5; 3: 11 // 3 = 3; 4: 12 // 4 = 3; 7: 13 // 7 = 1; 21: 20 // 21 = 0
    assert [rule.gain(n) for n in (1, 2, 3, 4, 7, 21)] == [10, 5, 3, 3, 1, 0]


@pytest.mark.parametrize(
    "text, n_outputs, scale, words",
    [
        ("softmax:0.9", 10, 1.0, ["softmax:0.9", "not understood", "margin:M", "confidence:ALPHA", "entropy:H"]),
        ("margin", 10, None, ["not understood"]),
        ("margin:", 10, None, ["not understood"]),
        ("none:3", 10, None, ["not understood"]),
        ("margin:-1", 10, None, ["whole number in 0..2147483647"]),
        ("margin:1.5", 10, None, ["whole number"]),
        ("margin:2147483648", 10, None, ["whole number in 0..2147483647"]),
        ("margin:ten", 10, None, ["'ten' is not a number"]),
        ("confidence:0", 10, 1.0, ["0 < ALPHA <= 1"]),
        ("confidence:1.01", 10, 1.0, ["0 < ALPHA <= 1"]),
        ("entropy:-0.1", 10, 1.0, ["0 <= H <= 1"]),
        ("entropy:1.5", 10, 1.0, ["0 <= H <= 1"]),
        ("margin:3", 1, None, ["at least 2 outputs", "has 1"]),
        ("confidence:0.9", 1, 1.0, ["at least 2 outputs"]),
        ("confidence:0.9", 10, None, ["needs the output layer's scale", "--exit-scale"]),
        ("entropy:0.5", 10, None, ["needs the output layer's scale"]),
        ("entropy:0.5", None, 1.0, ["needs the number of outputs K"]),
        ("confidence:0.9", 10, 0.0, ["positive finite"]),
        ("confidence:0.9", 10, -1.0, ["positive finite"]),
        ("confidence:0.9", 10, float("nan"), ["positive finite"]),
        ("confidence:0.9", 10, 1e6, ["out of range", "gain register"]),
        ("confidence:0.9", 10, 1e-9, ["out of range"]),
        (0.9, 10, 1.0, ["must be text"]),
    ],
)
def test_bad_rules_are_refused_with_what_is_allowed(text, n_outputs, scale, words):
    with pytest.raises(InputError) as err:
        parse_exit_rule(text, n_outputs, scale)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_a_rule_object_is_refused_on_one_output_and_bad_registers_are_refused():
    with pytest.raises(InputError, match="at least 2 outputs"):
        parse_exit_rule(ExitRule("margin", 1, 0, "margin:1"), 1)
    with pytest.raises(InputError, match="at least 2 outputs"):
        ExitUnit(ExitRule("margin", 1, 0, "margin:1"), 1)
    with pytest.raises(InputError, match="unknown"):
        ExitRule("softmax", 1, 0, "softmax:1")
    with pytest.raises(InputError, match="gain_num"):
        ExitRule("confidence", 1, 2**32, "confidence:0.9")


# --------------------------------------------------------------------------------- ln estimate
@SETTINGS
@given(z=st.integers(2**16, 2**45))
def test_ln_estimate_error_is_bounded_by_its_parts(z):
    # L_Z / 256 vs ln(z / 2^16): six bits below the leading one lose < ln(1 + 1/64); the table and ln 2
    # are rounded to 1/256 (<= 1/512 each entry, (p - 16) * |177/256 - ln 2| for the octaves).
    p = z.bit_length() - 1
    bound = math.log(1 + 1 / 64) + 1 / 512 + (p - 16) * abs(177 / 256 - math.log(2)) + 1e-12
    err = ln_q8(z) / 256 - math.log(z / 2**16)
    assert -bound <= err <= 1 / 512 + (p - 16) * abs(177 / 256 - math.log(2)) + 1e-12


def test_ln_estimate_by_hand():
    # 2^16 -> p = 16, index 0 -> 0; 2^17 -> 177 + LN_LUT[0] = 177; 74405 -> p = 16, 74405 >> 10 = 72, LN_LUT[8] = 30;
    # 3 * 2^20 -> p = 21, (3 * 2^20) >> 15 = 96 -> LN_LUT[32] = round(256 ln 1.5) = 104, 5 * 177 + 104 = 989
    assert [ln_q8(2**16), ln_q8(2**17), ln_q8(74405), ln_q8(3 * 2**20)] == [0, 177, 30, 989]


def _softmax_entropy(z: np.ndarray) -> float:
    p = np.exp(z - z.max())
    p /= p.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_integer_entropy_is_within_a_tenth_of_a_nat_of_the_float_entropy():
    # H(p) ~ L_Z / 256 + W / (8 Z) (chip-spec §1.4) against the float entropy of softmax(s * acc / n)
    rng = np.random.default_rng(2024)
    for _ in range(3000):
        K, n = int(rng.integers(2, 12)), int(rng.integers(1, 9))
        s = float(rng.choice([0.01, 0.05, 0.3, 1.0]) * rng.uniform(0.05, 2))
        spread = int(rng.choice([1, 10, 100, 1000]))
        acc = rng.integers(-spread * n, spread * n + 1, K)
        gain_t = (round(s * 2**19) + (n >> 1)) // n
        k = [min(95, (min(int(acc.max() - a), 2**24 - 1) * gain_t) >> 16) for a in acc]
        z = sum(EXP_LUT[x] for x in k)
        w = sum(EXP_LUT[x] * x for x in k)
        estimate = ln_q8(z) / 256 + w / (8 * z)
        assert abs(estimate - _softmax_entropy(s * acc / n)) < 0.1, (acc, n, s)


# ------------------------------------------------------------------------- hand-worked rules
def run_all_ways(rule: ExitRule, ys: list[list[int]], dtype=np.int32) -> int:
    """Timesteps run for one image with per-timestep outputs ``ys``: golden unit, kernel and twin must agree."""
    unit = ExitUnit(rule, len(ys[0]))
    golden = len(ys)
    for t, y in enumerate(ys):
        done, counters = unit.step(y)
        assert counters == exit_counters(rule.rule, len(y))
        if done:
            golden = t + 1
            break
    values = np.array([ys], dtype)
    for fn in (exit_timesteps_kernel, exit_timesteps_twin):
        out = np.full(1, -1, np.int64)
        fn(values, RULE_CODES[rule.rule], rule.threshold, rule.gain_num, np.array(EXP_LUT, np.int64),
           np.array(LN_LUT, np.int64), out)  # fmt: skip
        assert int(out[0]) == golden, fn
    return golden


def margin(m: int) -> ExitRule:
    return parse_exit_rule(f"margin:{m}", 3)


def test_margin_by_hand():
    ys = [[3, 1, 0], [4, 0, 2], [0, 0, 9]]
    # acc after t0: [3, 1, 0], top1 - top2 = 2; after t1: [7, 1, 2], 7 - 2 = 5; after t2: [7, 1, 11], 11 - 7 = 4
    assert run_all_ways(margin(2), ys) == 1  # exit at the first timestep
    assert run_all_ways(margin(3), ys) == 2
    assert run_all_ways(margin(5), ys) == 2
    assert run_all_ways(margin(6), ys) == 3  # never exits: runs all T
    assert run_all_ways(margin(0), ys) == 1  # M = 0: top1 - top2 >= 0 always
    # negative membranes: acc [-3, -7, -5] -> top1 -3 (output 0), top2 -5: margin 2
    assert run_all_ways(margin(2), [[-3, -7, -5]] * 2) == 1
    assert run_all_ways(margin(3), [[-3, -7, -5]] * 2) == 2
    # 0/1 spikes (uint8): acc [1,0,0] -> 1; [1,0,1] -> tie 0; [2,0,1] -> 1; [3,0,1] -> 2
    spikes = [[1, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert run_all_ways(margin(2), spikes, np.uint8) == 4
    assert run_all_ways(margin(1), spikes, np.uint8) == 1


def test_a_tie_for_the_top_has_margin_zero():
    # acc [5, 5, 0]: i1 = 0 (lowest index), top2 = acc[1] = 5 -> 0, whatever M > 0
    assert run_all_ways(margin(1), [[5, 5, 0]] * 4) == 4
    assert run_all_ways(margin(0), [[5, 5, 0]] * 4) == 1
    # the tie is broken in t1 (acc [5, 8, 0]): margin 3
    assert run_all_ways(margin(3), [[5, 5, 0], [0, 3, 0]]) == 2


def confidence(alpha: str, K: int = 2, scale: float = 1.0) -> ExitRule:
    return parse_exit_rule(f"confidence:{alpha}", K, scale)


def test_confidence_by_hand():
    # s = 1: gain_num = 2^19; n = 1: gain_t = 2^19, k = (d * 2^19) >> 16 = 8 d (d in nats).
    # acc [2, 0]: k = [0, 16], Z = 65536 + EXP_LUT[16] = 65536 + round(65536 e^-2) = 65536 + 8869 = 74405.
    # Float: max softmax = 1 / (1 + e^-2) = 0.8808: above 0.85, below 0.9.
    assert EXP_LUT[16] == 8869
    assert 0.85 < 1 / (1 + math.exp(-2)) < 0.9
    # ALPHA 0.85: z_limit = ceil(65536 / 0.85) = 77102 > 74405: exit. ALPHA 0.9: 72818 <= 74405: no exit.
    assert run_all_ways(confidence("0.85"), [[2, 0], [2, 0]]) == 1
    assert run_all_ways(confidence("0.9"), [[2, 0], [2, 0]]) == 2
    # The MEAN logits: [1, 0] then [3, 0]. n = 1: d = 1, k = 8, Z = 65536 + 24109 = 89645 (0.731);
    # n = 2: acc [4, 0], gain_t = (2^19 + 1) // 2 = 2^18, k = (4 * 2^18) >> 16 = 16: Z = 74405 again -> exit.
    assert EXP_LUT[8] == 24109
    assert run_all_ways(confidence("0.85"), [[1, 0], [3, 0], [0, 0]]) == 2
    # acc [0, 2, 0] with K = 3: k = [16, 0, 16], Z = 65536 + 2 * 8869 = 83274; 65536 / 83274 = 0.787
    # (float: 1 / (1 + 2 e^-2) = 0.787). ALPHA 0.78: z_limit = ceil(84020.5) = 84021 > 83274: exit.
    # ALPHA 0.79: z_limit = ceil(82956.96) = 82957 <= 83274: no exit.
    assert run_all_ways(confidence("0.78", 3), [[0, 2, 0]]) == 1
    assert run_all_ways(confidence("0.79", 3), [[0, 2, 0]]) == 1  # T = 1: runs its one timestep anyway
    assert run_all_ways(confidence("0.79", 3), [[0, 2, 0], [0, 2, 0], [0, 2, 0]]) == 3


def test_confidence_ties_and_limits():
    # A tie for the top: both k = 0, Z >= 2 * 65536 = 131072: ALPHA > 1/2 never exits while tied.
    # acc [3, 3, 0] (K = 3): Z = 131072 + EXP_LUT[24] = 131072 + 3263 = 134335.
    assert run_all_ways(confidence("0.5", 3), [[3, 3, 0]] * 3) == 3  # z_limit 131072
    assert run_all_ways(confidence("0.51", 3), [[3, 3, 0]] * 3) == 3
    assert run_all_ways(confidence("0.4", 3), [[3, 3, 0]] * 3) == 1  # z_limit 163840 > 134335
    # ALPHA = 1: z_limit = 65536 and Z >= EXP_LUT[0] = 65536: never, even when the other outputs are
    # 1000 nats below (k = 95, EXP_LUT[95] = 0, Z = 65536 exactly).
    assert run_all_ways(confidence("1"), [[1000, 0]] * 5) == 5
    # ALPHA = 0.9999: z_limit = ceil(65542.55) = 65543 > 65536: exit at once
    assert run_all_ways(confidence("0.9999"), [[1000, 0]] * 5) == 1
    # ALPHA < 1/K: z_limit > K * 65536 >= Z: always exits, even with all outputs tied
    assert run_all_ways(confidence("0.24", 4), [[0, 0, 0, 0]] * 3) == 1
    # ALPHA = 1/K exactly, all tied: Z = K * 65536 = z_limit, not below it (softmax 1/K does not exceed 1/K)
    assert run_all_ways(confidence("0.25", 4), [[0, 0, 0, 0]] * 3) == 3
    # d saturates at 2^24 - 1: a tiny gain (s = 2^-19, gain_num 1) on huge differences: n = 1, d = 2^24 - 1,
    # k = (2^24 - 1) >> 16 = 255 -> 95: Z = 65536 -> ALPHA 0.9999 exits. Unsaturated d = 2^30 would give the same.
    assert run_all_ways(confidence("0.9999", 2, 2**-19), [[2**30, 0]]) == 1
    # ... while d = 2^19 gives k = 8, Z = 89645: 0.731 < 0.9999, no exit
    assert run_all_ways(confidence("0.9999", 2, 2**-19), [[2**19, 0], [2**19, 0]]) == 2


def entropy(h: str, K: int = 2, scale: float = 1.0) -> ExitRule:
    return parse_exit_rule(f"entropy:{h}", K, scale)


def test_entropy_by_hand():
    # acc [2, 0], s = 1, n = 1: k = [0, 16], e = [65536, 8869], Z = 74405, W = 8869 * 16 = 141904;
    # L_Z = LN_LUT[(74405 >> 10) - 64] = LN_LUT[8] = 30. Z * L_Z + 32 W = 2232150 + 4540928 = 6773078.
    # H 0.6: theta = floor(256 * 0.6 * ln 2) = 106, 106 * 74405 = 7886930 > 6773078: exit.
    # H 0.5: theta = floor(88.72) = 88, 88 * 74405 = 6547640 <= 6773078: no exit.
    # Float: entropy of softmax([2, 0]) = 0.3653 nat, normalised 0.527: between 0.5 and 0.6.
    h = _softmax_entropy(np.array([2.0, 0.0])) / math.log(2)
    assert 0.5 < h < 0.6
    assert run_all_ways(entropy("0.6"), [[2, 0], [2, 0]]) == 1
    assert run_all_ways(entropy("0.5"), [[2, 0], [2, 0]]) == 2
    # a sharper second timestep: acc [6, 0] (mean 3 nats), n = 2, gain_t = 2^18, k = (6 * 2^18) >> 16 = 24: e = 3263,
    # Z = 68799, W = 78312; L_Z = LN_LUT[(68799 >> 10) - 64] = LN_LUT[3] = 12;
    # 68799 * 12 + 32 * 78312 = 825588 + 2505984 = 3331572 < 88 * 68799 = 6054312: exit at n = 2.
    assert EXP_LUT[24] == 3263
    assert run_all_ways(entropy("0.5"), [[2, 0], [4, 0], [0, 0]]) == 2


def test_entropy_zero_and_ties_never_exit():
    # H = 0: theta = 0 and Z * L_Z + 32 W >= 0: never, even at full confidence (acc [1000, 0]: Z = 65536, W = 0)
    assert run_all_ways(entropy("0"), [[1000, 0]] * 4) == 4
    # a tie (K = 2): Z = 131072, W = 0, L_Z = 177 + LN_LUT[0] = 177; H 1: theta = floor(256 ln 2) = 177: 177 Z < 177 Z
    # is false: the uniform distribution (normalised entropy 1) never exits.
    assert run_all_ways(entropy("1"), [[3, 3]] * 3) == 3
    # ... while one step apart (acc [1, 0]: k = [0, 8], Z = 89645, W = 192872, L_Z = LN_LUT[(89645 >> 10) - 64] =
    # LN_LUT[23] = 79; 89645 * 79 + 32 * 192872 = 7081955 + 6171904 = 13253859 < 177 * 89645 = 15867165): exit
    assert run_all_ways(entropy("1"), [[1, 0]] * 3) == 1


# ------------------------------------------------------------------ kernel, twin and golden unit
def _random_case(rng):
    B, T, K = int(rng.integers(0, 6)), int(rng.integers(1, 9)), int(rng.integers(2, 12))
    kind = int(rng.integers(5))
    if kind == 0:  # spikes
        values = (rng.random((B, T, K)) < rng.random()).astype(np.uint8)
    elif kind == 1:  # 32-bit membranes at the rails
        values = rng.choice([-(2**31), -(2**31) + 1, 0, 2**31 - 2, 2**31 - 1], (B, T, K)).astype(np.int32)
    elif kind == 2:  # many ties
        values = rng.integers(-1, 2, (B, T, K)).astype(np.int32)
    else:
        spread = int(rng.choice([3, 30, 3000, 2**20]))
        values = rng.integers(-spread, spread + 1, (B, T, K)).astype(np.int32)
    rule_name = str(rng.choice(["none", "margin", "confidence", "entropy"]))
    if rule_name == "margin":
        rule = ExitRule("margin", int(rng.choice([0, 1, int(rng.integers(0, 50)), 2**31 - 1])), 0, "m")
    elif rule_name == "none":
        rule = ExitRule()
    else:
        gain = int(rng.choice([1, int(rng.integers(1, 2**20)), int(rng.integers(1, 2**32)), 2**32 - 1]))
        if rule_name == "confidence":
            threshold = int(rng.choice([65536, int(rng.integers(65536, K * 65536 + 2))]))
        else:
            threshold = int(rng.integers(0, int(256 * math.log(K)) + 2))
        rule = ExitRule(rule_name, threshold, gain, "x")
    return values, rule


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_kernel_twin_and_golden_unit_agree(seed):
    values, rule = _random_case(np.random.default_rng(seed))
    B, T, K = values.shape
    luts = np.array(EXP_LUT, np.int64), np.array(LN_LUT, np.int64)
    got, want = np.full(B, -1, np.int64), np.full(B, -1, np.int64)
    exit_timesteps_kernel(values, RULE_CODES[rule.rule], rule.threshold, rule.gain_num, *luts, got)
    exit_timesteps_twin(values, RULE_CODES[rule.rule], rule.threshold, rule.gain_num, *luts, want)
    golden = []
    for b in range(B):
        unit, e = ExitUnit(rule, K), T
        for t in range(T):
            if unit.step([int(v) for v in values[b, t]])[0]:
                e = t + 1
                break
        golden.append(e)
    assert got.tolist() == want.tolist() == golden


def test_kernel_and_twin_have_the_same_signature():
    code = exit_timesteps_kernel.py_func.__code__
    twin = exit_timesteps_twin.__code__
    assert code.co_varnames[: code.co_argcount] == twin.co_varnames[: twin.co_argcount]
