"""Early exit in reports (chip-spec §1.4): the rules of a report, the fixed-T curve and the exit numbers.

One run at the full T gives every number (docs/energy.md §2.2, §7):

- the **fixed-T** result: the run itself, without an exit unit;
- the result under each **exit rule**: :func:`hwsim.exit_unit.apply_exit` of the fixed-T result (exact:
  timesteps after ``t`` never influence ``t``);
- the **fixed-t** results for ``t < T`` (the fixed-T curve of the frontier figure): the first ``t`` timesteps of
  the run (:func:`first_timesteps`). That is exactly a run at ``T = t`` when the input coding of the first ``t``
  timesteps does not depend on ``T`` (:data:`PREFIX_ENCODINGS`: rate, threshold and regular coding, and an RRAM chip's
  read noise, which is drawn timestep by timestep); latency coding spreads the spikes over ``T``, so its
  fixed-t points are separate runs.

The scale the ``confidence`` and ``entropy`` rules need (logit units per integer step of the output layer,
``s`` in chip-spec §1.4) defaults to the output layer's scale in the network file's metadata, ``scales[-1]``
(:func:`output_layer_scale`), for a membrane readout. A spike-count readout has no such scale (the network's
scales are those of its membranes, not of its spike counts): give one, or use ``margin:M``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hwsim.errors import InputError
from hwsim.exit_unit import ExitRule, parse_exit_rule
from hwsim.report.summary import RunSummary
from hwsim.result import RunResult

__all__ = [
    "PREFIX_ENCODINGS",
    "ExitPoint",
    "EarlyExit",
    "ExitRules",
    "output_layer_scale",
    "parse_exit_sweep",
    "check_exit_texts",
    "resolve_exit_rules",
    "first_timesteps",
    "fixed_curve_timesteps",
    "exit_point",
]

#: Input codings whose first ``t`` timesteps are those of a ``t``-timestep raster (hwsim.encoding; tested).
PREFIX_ENCODINGS = ("rate", "threshold", "regular")
#: Up to this T the fixed-T curve has every t = 1..T; above it, powers of two and T.
MAX_EVERY_T = 64
SCALE_FROM_METADATA = "network metadata scales[-1] (output layer)"
SCALE_GIVEN = "given (--exit-scale / exit_scale)"


def output_layer_scale(metadata: dict | None, readout: str = "membrane") -> float | None:
    """The output layer's scale from a network's (or program's) metadata, ``scales[-1]``, or None.

    None when the metadata has no usable ``scales`` list, and for a spike-count readout (the recorded scales
    turn membranes into logits, not spike counts).
    """
    if readout != "membrane" or not isinstance(metadata, dict):
        return None
    scales = metadata.get("scales")
    if not isinstance(scales, (list, tuple)) or not scales:
        return None
    s = scales[-1]
    if getattr(s, "ndim", None) == 0:  # a NumPy scalar, as NIR metadata may hold
        s = s.item()
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
        return None
    return float(s)


def parse_exit_sweep(text: str | Sequence[str] | None, option: str = "--exit-sweep") -> list[str]:
    """``"confidence:0.5,0.7,0.9"`` -> ``["confidence:0.5", "confidence:0.7", "confidence:0.9"]``.

    Several rules are separated by ``;`` (``"margin:2,4;confidence:0.9,0.99"``). A list of rule texts passes
    through. None or ``"none"`` is no sweep. Only the form is checked here; :func:`check_exit_texts` checks the
    values.

    Raises:
        InputError: a group without ``RULE:`` and at least one value.
    """
    if text is None:
        return []
    if not isinstance(text, str):
        return [str(t) for t in text]
    if text.strip().lower() in ("", "none"):
        return []
    rules = []
    for group in text.split(";"):
        name, sep, values = group.strip().partition(":")
        items = [v.strip() for v in values.split(",")]
        if not sep or not name.strip() or not all(items):
            raise InputError(
                f"{option} {text!r}: expected RULE:V1,V2,... such as confidence:0.5,0.7,0.9,0.99 "
                "(several rules separated by ';', e.g. 'margin:2,4;entropy:0.1,0.2')"
            )
        rules += [f"{name.strip()}:{v}" for v in items]
    return rules


def check_exit_texts(exit_rule: str | None, exit_sweep: str | None) -> None:
    """The form and ranges of ``--exit`` and ``--exit-sweep``, before anything is loaded.

    The number of outputs and the scale are not known yet: they are checked again by
    :func:`resolve_exit_rules`.
    """
    for option, texts in (("--exit", [exit_rule] if exit_rule is not None else []),
                          ("--exit-sweep", parse_exit_sweep(exit_sweep))):
        for text in texts:
            if option == "--exit-sweep" and text.partition(":")[0].strip().lower() == "none":
                raise InputError(f"--exit-sweep {exit_sweep!r}: rule none has no threshold to sweep")
            try:
                parse_exit_rule(text, n_outputs=2, scale=1.0)  # form and ranges only: K and s come later
            except InputError as exc:
                raise InputError(f"{option}: {exc}") from None


@dataclass(frozen=True)
class ExitRules:
    """The parsed rules of a report: the main one (``none`` when not asked), the sweep, and the scale used."""

    main: ExitRule
    sweep: tuple[ExitRule, ...]
    scale: float | None
    scale_source: str

    @property
    def any(self) -> bool:
        return self.main.enabled or bool(self.sweep)


def resolve_exit_rules(n_outputs: int, readout: str, exit_rule, exit_sweep, exit_scale: float | None,
                       metadata: dict | None) -> ExitRules:  # fmt: skip
    """Parse the report's rules with the program's ``K`` and the scale (given, else from ``metadata``).

    Raises:
        InputError: a rule that does not parse, fewer than 2 outputs, or a confidence/entropy rule without
            a scale (a spike-count readout, or metadata without ``scales``).
    """
    texts = [exit_rule] + parse_exit_sweep(exit_sweep, "exit_sweep")
    needs_scale = any(_needs_scale(t) for t in texts)
    if exit_scale is not None:
        scale, source = exit_scale, SCALE_GIVEN
    else:
        scale, source = output_layer_scale(metadata, readout), SCALE_FROM_METADATA
        if needs_scale and scale is None and readout != "membrane":
            first = next(t for t in texts if _needs_scale(t))
            raise InputError(
                f"exit rule {_text(first)!r} on a spike-count readout needs a scale (logit units per output spike "
                "and timestep): give it with --exit-scale S (Python: exit_scale=S), or use margin:M, which "
                "compares spike counts"
            )
    rules = [parse_exit_rule(t, n_outputs, scale) for t in texts]
    if any(not r.enabled for r in rules[1:]):
        raise InputError(f"exit_sweep {exit_sweep!r}: rule none has no threshold to sweep")
    used = any(r.rule in ("confidence", "entropy") for r in rules)
    return ExitRules(rules[0], tuple(rules[1:]), scale if used else None, source if used else "")


def _text(rule) -> str:
    return rule.text if isinstance(rule, ExitRule) else str(rule)


def _needs_scale(rule) -> bool:
    if isinstance(rule, ExitRule):
        return False  # its registers are set
    return rule is not None and str(rule).partition(":")[0].strip().lower() in ("confidence", "entropy")


def first_timesteps(result: RunResult, t: int) -> RunResult:
    """The first ``t`` timesteps of a fixed-T run, as a run of ``t`` timesteps.

    Every per-timestep array (and ``extra`` arrays of shape ``(B, T, ...)``) is cut to its first ``t`` rows;
    other ``extra`` arrays (e.g. the RRAM ``adc_peak``, a maximum over the whole run) are kept as they are.
    ``link_counters`` (mesh NoC: sums over all ``T`` timesteps, which cannot be cut) become None when ``t < T``.

    Raises:
        InputError: ``result`` ran with an exit rule, or ``t`` is not in ``1..T``.
    """
    if result.exit_rule != "none":
        raise InputError(f"first_timesteps needs a fixed-T run; this one ran with exit rule {result.exit_rule!r}")
    B, T = result.timestep_cycles.shape
    if not 1 <= t <= T:
        raise InputError(f"first_timesteps: t = {t}, expected 1..{T}")
    if t == T:
        return result

    def cut(a):
        return a[:, :t].copy()

    return RunResult(
        output_spikes=cut(result.output_spikes),
        output_membranes=cut(result.output_membranes),
        counters=cut(result.counters),
        host_counters=cut(result.host_counters),
        timestep_cycles=cut(result.timestep_cycles),
        core_ids=result.core_ids,
        readout=result.readout,
        membranes=None if result.membranes is None else [cut(m) for m in result.membranes],
        core_spikes=None if result.core_spikes is None else [cut(s) for s in result.core_spikes],
        extra={k: cut(a) if isinstance(a, np.ndarray) and a.ndim >= 3 and a.shape[:2] == (B, T) else a
               for k, a in result.extra.items()},
        noc_counters=cut(result.noc_counters),
        # per-link sums over all T timesteps cannot be cut to the first t (chip-spec §1.5): none for t < T
        link_counters=None,
    )


def fixed_curve_timesteps(T: int) -> list[int]:
    """The t of the fixed-T curve: every ``1..T`` up to :data:`MAX_EVERY_T`, else powers of two and ``T``."""
    if T <= MAX_EVERY_T:
        return list(range(1, T + 1))
    return sorted({2**k for k in range(T.bit_length()) if 2**k <= T} | {T})


@dataclass(frozen=True)
class ExitPoint:
    """Accuracy and cost of the same images under one exit rule (the fixed-T run cut after each exit).

    ``energy_saving`` and ``latency_saving`` are ``1 - exit / fixed-T`` of the per-image means.
    """

    rule: str
    avg_timesteps: float
    max_timesteps: int
    exit_histogram: list[int]
    accuracy: float | None
    energy_nj_per_image: float
    latency_us_per_image: float
    energy_saving: float
    latency_saving: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _saving(value: float, fixed: float) -> float:
    return 1.0 - value / fixed if fixed > 0 else 0.0


def exit_point(result: RunResult | RunSummary, accuracy: float | None, energy, fixed_energy) -> ExitPoint:
    """The numbers of one exit rule: timesteps run (mean, max, images per exit timestep ``1..T``), accuracy,
    energy and latency per image, and the savings against the fixed-T run's ``fixed_energy``. ``result`` is the
    run cut by the rule, or its :class:`~hwsim.report.summary.RunSummary`."""
    run = np.asarray(result.exit_timesteps, np.int64)
    histogram = np.bincount(run, minlength=result.timesteps + 1)[1:]
    return ExitPoint(
        rule=result.exit_rule,
        avg_timesteps=float(run.mean()),
        max_timesteps=int(run.max()),
        exit_histogram=[int(v) for v in histogram],
        accuracy=accuracy,
        energy_nj_per_image=energy.energy_nj_per_image,
        latency_us_per_image=energy.latency_us_per_image,
        energy_saving=_saving(energy.energy_nj_per_image, fixed_energy.energy_nj_per_image),
        latency_saving=_saving(energy.latency_us_per_image, fixed_energy.latency_us_per_image),
    )


@dataclass(frozen=True)
class EarlyExit:
    """The early-exit part of a report.

    Attributes:
        rules: The parsed rules and the scale.
        main: The numbers of the main rule (the report's own run), or None under rule ``none``.
        exit_timesteps: ``(B,)`` timesteps each image ran under the main rule, or None.
        fixed_accuracy, fixed_energy_nj, fixed_latency_us: The fixed-T run at the report's T (no exit unit).
        sweep: One :class:`ExitPoint` per rule of the threshold sweep.
        curve: The fixed-T curve: :class:`hwsim.report.model.SweepPoint` for t = 1..T.
    """

    rules: ExitRules
    main: ExitPoint | None
    exit_timesteps: np.ndarray | None
    fixed_accuracy: float | None
    fixed_energy_nj: float
    fixed_latency_us: float
    sweep: list[ExitPoint] = field(default_factory=list)
    curve: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """The keys ``report.json`` adds (headline keys first; the main rule's only when it is on)."""
        out: dict = {}
        if self.main is not None:
            m = self.main
            out.update({
                "exit_rule": m.rule,
                "avg_timesteps": m.avg_timesteps,
                "max_timesteps": m.max_timesteps,
                "exit_histogram": m.exit_histogram,
                "accuracy_fixed_t": self.fixed_accuracy,
                "energy_nj_per_image_fixed_t": self.fixed_energy_nj,
                "latency_us_per_image_fixed_t": self.fixed_latency_us,
                "energy_saving": m.energy_saving,
                "latency_saving": m.latency_saving,
                "exit_registers": {"rule": self.rules.main.rule, "threshold": self.rules.main.threshold,
                                   "gain_num": self.rules.main.gain_num},
            })
        out["exit_scale"] = self.rules.scale
        out["exit_scale_source"] = self.rules.scale_source or None
        out["exit_sweep"] = [p.to_dict() for p in self.sweep]
        out["fixed_t_curve"] = [p.to_dict() for p in self.curve]
        return out
