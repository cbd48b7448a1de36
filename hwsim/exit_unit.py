"""The early-exit unit (chip-spec §1.4): rules, registers, tables and the plain-Python golden unit.

An :class:`ExitRule` is a run option: the rule name and its integer registers
(``threshold`` and, for ``confidence``/``entropy``, ``gain_num``). Build one with
:func:`parse_exit_rule` from the command-line form (``none``, ``margin:M``,
``confidence:ALPHA``, ``entropy:H``).

:class:`ExitUnit` is the golden model of the unit: one image at a time, one
:meth:`ExitUnit.step` per timestep, plain integers. The engine's kernel
(:mod:`hwsim.kernels.exit_unit`) and the RTL (``rtl/snn_exit_unit.v``) must
agree with it bit for bit and cycle for cycle.

:func:`apply_exit` turns a fixed-T :class:`~hwsim.result.RunResult` into the result of the same run with
an exit rule (the engine's way, and the cheap way to try many thresholds on one run): timesteps after
``t`` never influence timestep ``t``, so cutting a full run after each image's exit gives exactly what a
run that stopped there reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from hwsim.errors import InputError
from hwsim.result import EXIT_COUNTER_NAMES, RunResult

__all__ = [
    "EXIT_RULES",
    "EXIT_COUNTER_NAMES",
    "EXP_LUT",
    "LN_LUT",
    "LN2_Q8",
    "ExitRule",
    "ExitUnit",
    "parse_exit_rule",
    "exit_cycles",
    "exit_counters",
    "acc_bits",
    "ln_q8",
    "apply_exit",
    "find_exit_timesteps",
]

EXIT_RULES = ("none", "margin", "confidence", "entropy")

# round(2**16 * exp(-k / 8)), k = 0..95 (chip-spec §1.4); tests/hwsim/test_exit_unit.py recomputes it.
EXP_LUT = (
    65536, 57835, 51039, 45042, 39750, 35079, 30957, 27319, 24109, 21276, 18776, 16570, 14623, 12905, 11388,
    10050, 8869, 7827, 6907, 6096, 5380, 4747, 4190, 3697, 3263, 2879, 2541, 2243, 1979, 1746, 1541, 1360, 1200,
    1059, 935, 825, 728, 642, 567, 500, 442, 390, 344, 303, 268, 236, 209, 184, 162, 143, 127, 112, 99, 87, 77,
    68, 60, 53, 47, 41, 36, 32, 28, 25, 22, 19, 17, 15, 13, 12, 10, 9, 8, 7, 6, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
)
# round(256 * ln(1 + i / 64)), i = 0..63: ln of the six bits below the leading one, in 1/256 nat.
LN_LUT = (
    0, 4, 8, 12, 16, 19, 23, 27, 30, 34, 37, 41, 44, 47, 51, 54, 57, 60, 63, 67, 70, 73, 76, 79, 82, 84, 87, 90,
    93, 96, 98, 101, 104, 106, 109, 112, 114, 117, 119, 122, 124, 127, 129, 132, 134, 136, 139, 141, 143, 146,
    148, 150, 152, 154, 157, 159, 161, 163, 165, 167, 169, 171, 173, 175,
)
LN2_Q8 = 177  # round(256 * ln 2)
_EXP_LUT_ARRAY = np.array(EXP_LUT, np.int64)
_LN_LUT_ARRAY = np.array(LN_LUT, np.int64)
EXP_INDEX_MAX = len(EXP_LUT) - 1
DSAT_MAX = 2**24 - 1
GAIN_FRACTION_BITS = 16
GAIN_NUM_SHIFT = 19  # gain_num = round(s * 2^19): s in 1/8 nat (3 bits) at 16 fraction bits
MAX_MARGIN = 2**31 - 1
MAX_GAIN_NUM = 2**32 - 1


def acc_bits(v_bits: int) -> int:
    """Width of one accumulator (chip-spec §1.4): exact for T <= MAX_TIMESTEPS = 4096."""
    return v_bits + 13


def exit_cycles(rule: str, n_outputs: int) -> int:
    """The EXIT phase's cycles per timestep (chip-spec §1.4)."""
    K = n_outputs
    return {"none": 0, "margin": K + 1, "confidence": 2 * K + 2, "entropy": 2 * K + 3}[rule]


def exit_counters(rule: str, n_outputs: int) -> tuple[int, int, int, int]:
    """``cycles, acc_updates, multiplies, lut_reads`` of one timestep (chip-spec §1.4); fixed by the rule and K."""
    K = n_outputs
    if rule == "none":
        return (0, 0, 0, 0)
    if rule == "margin":
        return (K + 1, K, 0, 0)
    if rule == "confidence":
        return (2 * K + 2, K, K, K)
    return (2 * K + 3, K, 2 * K + 2, K + 1)


@dataclass(frozen=True)
class ExitRule:
    """An early-exit rule and its registers (chip-spec §1.4).

    Attributes:
        rule: ``none``, ``margin``, ``confidence`` or ``entropy``.
        threshold: ``M`` (margin), ``z_limit`` (confidence) or ``theta`` (entropy); 0 for ``none``.
        gain_num: ``round(s * 2^19)`` for confidence and entropy (``s``: logit units per output step); 0 otherwise.
        text: The rule as the user wrote it (for reports).
    """

    rule: str = "none"
    threshold: int = 0
    gain_num: int = 0
    text: str = "none"

    def __post_init__(self) -> None:
        if self.rule not in EXIT_RULES:
            raise InputError(f"exit rule {self.rule!r} is unknown; rules: {', '.join(EXIT_RULES)}")
        if self.rule in ("confidence", "entropy") and not 0 <= self.gain_num <= MAX_GAIN_NUM:
            raise InputError(f"exit gain_num {self.gain_num} is out of range; allowed 0..{MAX_GAIN_NUM}")

    @property
    def enabled(self) -> bool:
        return self.rule != "none"

    def gain(self, n: int) -> int:
        """``gain_t`` for the timestep after which ``n`` timesteps have run: the host's rounded division."""
        return (self.gain_num + (n >> 1)) // n

    def check_outputs(self, n_outputs: int) -> None:
        """Refuse a rule on a program with fewer than 2 outputs (there is no top 2)."""
        if self.enabled and n_outputs < 2:
            raise InputError(
                f"exit rule {self.text!r} needs at least 2 outputs to compare; this program has {n_outputs}: "
                "use --exit none"
            )


def _gain_num(scale: float | None, text: str) -> int:
    if scale is None:
        raise InputError(
            f"exit rule {text!r} needs the output layer's scale (logit units per integer step), which this "
            "network does not record: give it with --exit-scale S (Python: exit_scale=S)"
        )
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise InputError(f"exit scale {scale!r} must be a positive finite number")
    g = round(float(scale) * 2**GAIN_NUM_SHIFT)
    if not 1 <= g <= MAX_GAIN_NUM:
        lo, hi = 0.5 / 2**GAIN_NUM_SHIFT, MAX_GAIN_NUM / 2**GAIN_NUM_SHIFT
        raise InputError(
            f"exit scale {scale!r} is out of range for the exit unit's gain register; allowed {lo:.3g} .. {hi:.6g}"
        )
    return g


def _decimal(value: str, text: str) -> Fraction:
    try:
        f = Fraction(value.strip())
    except (ValueError, ZeroDivisionError):
        raise InputError(f"exit rule {text!r}: {value!r} is not a number") from None
    return f


def parse_exit_rule(text: str | ExitRule | None, n_outputs: int | None = None,
                    scale: float | None = None) -> ExitRule:  # fmt: skip
    """An :class:`ExitRule` from ``none``, ``margin:M``, ``confidence:ALPHA`` or ``entropy:H``.

    Args:
        text: The rule (an :class:`ExitRule` or ``None`` passes through; ``None`` is ``none``).
        n_outputs: ``K``, needed for ``entropy`` (``theta = floor(256 * H * ln K)``) and to refuse ``K < 2``.
        scale: Logit units per integer step of the output layer, needed for ``confidence`` and ``entropy``.

    Raises:
        InputError: naming what is wrong and what is allowed.
    """
    if text is None:
        return ExitRule()
    if isinstance(text, ExitRule):
        rule = text
    else:
        if not isinstance(text, str):
            raise InputError(f"exit rule must be text such as 'confidence:0.9', not {type(text).__name__}")
        raw = text.strip()
        name, sep, value = raw.partition(":")
        name = name.strip().lower()
        allowed = "none, margin:M (whole number >= 0), confidence:ALPHA (0 < ALPHA <= 1), entropy:H (0 <= H <= 1)"
        if name == "none" and not sep:
            return ExitRule()
        if name not in EXIT_RULES or name == "none" or not sep or not value.strip():
            raise InputError(f"exit rule {raw!r} is not understood; allowed: {allowed}")
        if n_outputs is not None and n_outputs < 2:
            raise InputError(
                f"exit rule {raw!r} needs at least 2 outputs to compare; this network has {n_outputs}: use --exit none"
            )
        x = _decimal(value, raw)
        if name == "margin":
            if x.denominator != 1 or not 0 <= x <= MAX_MARGIN:
                raise InputError(f"exit rule {raw!r}: the margin M must be a whole number in 0..{MAX_MARGIN}")
            rule = ExitRule("margin", int(x), 0, raw)
        elif name == "confidence":
            if not 0 < x <= 1:
                raise InputError(f"exit rule {raw!r}: ALPHA must satisfy 0 < ALPHA <= 1 (SEENN-I uses 0.9)")
            z_limit = math.ceil(Fraction(2**16) / x)
            rule = ExitRule("confidence", z_limit, _gain_num(scale, raw), raw)
        else:
            if not 0 <= x <= 1:
                raise InputError(f"exit rule {raw!r}: H must satisfy 0 <= H <= 1 (normalised entropy)")
            if n_outputs is None:
                raise InputError(f"exit rule {raw!r} needs the number of outputs K (theta = floor(256 * H * ln K))")
            theta = math.floor(256.0 * float(x) * math.log(n_outputs))
            rule = ExitRule("entropy", theta, _gain_num(scale, raw), raw)
    if n_outputs is not None:
        rule.check_outputs(n_outputs)
    return rule


def ln_q8(z: int) -> int:
    """``L_Z``: ln(z / 2^16) in 1/256 nat for ``z >= 2^16`` (chip-spec §1.4)."""
    p = z.bit_length() - 1
    return (p - 16) * LN2_Q8 + LN_LUT[(z >> (p - 6)) - 64]


class ExitUnit:
    """Golden exit unit for one image (chip-spec §1.4): accumulators, scores and the decision."""

    def __init__(self, rule: ExitRule, n_outputs: int):
        rule.check_outputs(n_outputs)
        self.rule = rule
        self.K = n_outputs
        self.acc = [0] * n_outputs
        self.n = 0

    def step(self, y: list[int]) -> tuple[bool, tuple[int, int, int, int]]:
        """Timestep's output values ``y`` (membranes or 0/1 spikes): accumulate, score, decide.

        Returns:
            ``(exit, counters)``: whether the rule says exit after this timestep, and the unit's
            ``cycles, acc_updates, multiplies, lut_reads`` (:data:`EXIT_COUNTER_NAMES`).
        """
        self.n += 1
        for o in range(self.K):
            self.acc[o] += int(y[o])
        return self.decide(), exit_counters(self.rule.rule, self.K)

    def decide(self) -> bool:
        rule, acc = self.rule, self.acc
        if rule.rule == "none":
            return False
        i1 = 0
        for o in range(1, self.K):
            if acc[o] > acc[i1]:
                i1 = o
        top1 = acc[i1]
        if rule.rule == "margin":
            top2 = max(acc[o] for o in range(self.K) if o != i1)
            return top1 - top2 >= rule.threshold
        gain_t = rule.gain(self.n)
        z = w = 0
        for o in range(self.K):
            d = min(top1 - acc[o], DSAT_MAX)
            k = min(EXP_INDEX_MAX, (d * gain_t) >> GAIN_FRACTION_BITS)
            z += EXP_LUT[k]
            w += EXP_LUT[k] * k
        if rule.rule == "confidence":
            return z < rule.threshold
        return z * ln_q8(z) + 32 * w < rule.threshold * z


def _exit_values(result: RunResult) -> np.ndarray:
    """The ``(B, T, K)`` values the unit reads (chip-spec §1.4): membranes or 0/1 spikes, by the readout."""
    values = result.output_membranes if result.readout == "membrane" else result.output_spikes
    return np.ascontiguousarray(values)


def find_exit_timesteps(result: RunResult, rule: ExitRule | str | None) -> np.ndarray:
    """``(B,)`` int64 timesteps each image of a fixed-T run would run under ``rule`` (``T`` if it never exits).

    The decisions only: :func:`apply_exit` also cuts the arrays. ``rule`` is an :class:`ExitRule`, or text
    for rules that need no scale (``none``, ``margin:M``).

    Raises:
        InputError: ``result`` already had an exit rule, the rule does not parse, or fewer than 2 outputs.
    """
    from hwsim.kernels.exit_unit import RULE_CODES, exit_timesteps_kernel  # Numba: only when asked for

    values = _exit_values(result)
    rule = _rule_for(result, rule)
    exit_t = np.empty(values.shape[0], np.int64)
    exit_timesteps_kernel(values, RULE_CODES[rule.rule], int(rule.threshold), int(rule.gain_num), _EXP_LUT_ARRAY,
                          _LN_LUT_ARRAY, exit_t)  # fmt: skip
    return exit_t


def _rule_for(result: RunResult, rule: ExitRule | str | None) -> ExitRule:
    rule = parse_exit_rule(rule, int(result.output_spikes.shape[2]))
    if result.exit_rule != "none" and rule.enabled:
        raise InputError(
            f"this result already ran with exit rule {result.exit_rule!r}: an exit rule applies to a fixed-T "
            "result (run with exit rule none)"
        )
    return rule


def apply_exit(result: RunResult, rule: ExitRule | str | None, *, copy: bool = True,
               link_counters: np.ndarray | None = None) -> RunResult:
    """The result of the same run under the exit rule ``rule`` (chip-spec §1.4), from a fixed-T result.

    Per image ``b`` with exit timestep count ``e = exit_timesteps[b]``: every per-timestep array
    (output spikes and membranes, counters, host counters, timestep cycles, recorded membranes and
    spikes, and ``extra`` arrays of shape ``(B, T, ...)`` with at least 3 axes) is 0 from timestep ``e``
    on; timesteps ``0 .. e-1`` gain the unit's ``exit_cycles`` in ``timestep_cycles`` and its counters
    in ``exit_counters``. Other ``extra`` arrays (e.g. the RRAM ``adc_peak``, ``(B, C)``) are kept as they are.
    ``noc_counters`` are cut like the other per-timestep arrays.

    ``link_counters`` (mesh NoC, chip-spec §1.5) are sums over images and timesteps, which cannot be cut:
    they are kept when no image stops before ``T`` (the cut run is the full run), else they are those given
    in ``link_counters`` (the engine's NoC already counted only the timesteps each image runs), else None:
    a result derived from a fixed-T run (an exit rule tried after the run, a sweep point) has per-link
    totals only by running the rule (``Chip.run(..., exit_rule=...)``).

    Args:
        result: A result run without an exit rule (``result.exit_rule == "none"``).
        rule: An :class:`ExitRule` (or text without a scale: ``none``, ``margin:M``); ``none`` returns
            ``result`` itself.
        copy: False cuts ``result``'s own arrays in place (for the engine, which owns them).

    Raises:
        InputError: as :func:`find_exit_timesteps`.
    """
    rule = _rule_for(result, rule)
    if not rule.enabled:
        return result
    exit_t = find_exit_timesteps(result, rule)
    B, T = result.timestep_cycles.shape
    after = np.arange(T)[None, :] >= exit_t[:, None]  # (B, T): timesteps not run
    ran = ~after

    def cut(a: np.ndarray) -> np.ndarray:
        a = a.copy() if copy else a
        a[after] = 0
        return a

    unit = np.array(exit_counters(rule.rule, int(result.output_spikes.shape[2])), np.int64)
    counters = np.zeros((B, T, len(EXIT_COUNTER_NAMES)), np.int64)
    counters[ran] = unit
    timestep_cycles = cut(result.timestep_cycles)
    timestep_cycles[ran] += unit[EXIT_COUNTER_NAMES.index("cycles")]

    def per_image(a):
        if not isinstance(a, np.ndarray):
            return a
        if a.ndim >= 3 and a.shape[:2] == (B, T):  # per timestep
            return cut(a)
        return a.copy() if copy else a

    extra = {key: per_image(a) for key, a in result.extra.items()}
    return RunResult(
        output_spikes=cut(result.output_spikes),
        output_membranes=cut(result.output_membranes),
        counters=cut(result.counters),
        host_counters=cut(result.host_counters),
        timestep_cycles=timestep_cycles,
        core_ids=result.core_ids,
        readout=result.readout,
        membranes=None if result.membranes is None else [cut(m) for m in result.membranes],
        core_spikes=None if result.core_spikes is None else [cut(s) for s in result.core_spikes],
        extra=extra,
        exit_timesteps=exit_t,
        exit_counters=counters,
        exit_rule=rule.text,
        noc_counters=cut(result.noc_counters),
        link_counters=_cut_links(result.link_counters, link_counters, bool(after.any()), copy),
    )


def _cut_links(full: np.ndarray | None, given: np.ndarray | None, cut: bool, copy: bool) -> np.ndarray | None:
    """The per-link sums of a run cut by an exit rule (see :func:`apply_exit`)."""
    if given is not None:
        return given
    if full is None or cut:
        return None
    return full.copy() if copy else full
