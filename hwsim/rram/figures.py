"""PNG figures of an RRAM yield study (drawn from numbers already computed; nothing is simulated here).

Uses Matplotlib's object API with the Agg canvas (no pyplot state, no display),
and writes each file atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwsim.writers import figure_png

__all__ = ["accuracy_histogram", "yield_vs_sigma", "tuning_figure", "strategies_figure", "sensitivity_figure",
           "study_figures", "STUDY_FIGURE_FILES"]

#: The figures of a yield study; yield_vs_sigma.png only with a sigma sweep, tuning.png only with tuning,
#: strategies.png only with --compare, sensitivity.png only with --sensitivity.
STUDY_FIGURE_FILES = ("accuracy_hist.png", "yield_vs_sigma.png", "tuning.png", "strategies.png", "sensitivity.png")

# one colour and marker per strategy (hwsim.rram.strategies.STRATEGIES), the same in every figure
_STRATEGY_STYLE = {
    "none": ("#555555", "o"), "global": ("#8c6bb1", "v"), "screened": ("#4878a8", "s"),
    "regressed": ("#2a9d55", "D"), "adc": ("#e0a030", "^"), "adc+regressed": ("#d0603a", "P"),
    "oracle": ("#000000", "*"),
}
_AXIS_LABELS = {"sigma": "device-to-device sigma", "array_sigma": "crossbar-to-crossbar sigma",
                "stuck": "stuck-at rate (each of on and off)"}


def _figure(width: float = 6.4, height: float = 4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    figure_png(fig, path)
    return Path(path)


def accuracy_histogram(path: Path, accuracies: np.ndarray, spec: float, ideal: float | None = None,
                       after: np.ndarray | None = None, title: str = "") -> Path:
    """Histogram of instance accuracies (and after tuning), with the spec and the ideal chip."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    ax = fig.add_subplot()
    a = np.asarray(accuracies) * 100
    lo = min(a.min(), (after.min() * 100) if after is not None and after.size else a.min(), spec * 100)
    hi = max(a.max(), ideal * 100 if ideal is not None else a.max())
    bins = np.linspace(np.floor(lo) - 0.5, np.ceil(hi) + 0.5, 25)
    ax.hist(a, bins=bins, color="#4878a8", alpha=0.75, label=f"as manufactured (yield {np.mean(a >= spec * 100):.0%})")
    if after is not None and after.size:
        b = np.asarray(after) * 100
        ax.hist(b, bins=bins, histtype="step", lw=2, color="#d0603a",
                label=f"after signature-driven tuning (yield {np.mean(b >= spec * 100):.0%})")
    ax.axvline(spec * 100, color="k", ls="--", lw=1.2, label=f"spec {spec * 100:g} %")
    if ideal is not None:
        ax.axvline(ideal * 100, color="#2a9d55", ls=":", lw=1.5, label=f"ideal chip {ideal * 100:.1f} %")
    ax.set_xlabel("test accuracy of a chip instance (%)")
    ax.set_ylabel("chip instances")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 instance ticks
    ax.set_title(title or "Monte Carlo accuracy of RRAM chip instances", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def yield_vs_sigma(path: Path, sweep, spec: float) -> Path:
    """Mean accuracy (10-90 % band) and yield versus device-variation sigma."""
    fig = _figure()
    ax = fig.add_subplot()
    s = np.array(sweep.sigmas)
    acc = sweep.accuracies * 100
    ax.fill_between(s, np.quantile(acc, 0.1, axis=1), np.quantile(acc, 0.9, axis=1), color="#4878a8", alpha=0.25,
                    label="10-90 % of instances")
    ax.plot(s, acc.mean(axis=1), "o-", color="#4878a8", label="mean accuracy")
    ax.axhline(spec * 100, color="k", ls="--", lw=1, label=f"spec {spec * 100:g} %")
    ax.set_xlabel("device-to-device variation sigma")
    ax.set_ylabel("test accuracy (%)")
    ax2 = ax.twinx()
    ax2.plot(s, np.array(sweep.yields(spec)) * 100, "s-", color="#d0603a", label="yield")
    ax2.set_ylabel("yield (%)", color="#d0603a")
    ax2.set_ylim(-3, 103)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    ax.set_title(f"Accuracy and yield vs sigma ({len(sweep.seeds)} instances per point, same seeds)", fontsize=10)
    return _save(fig, path)


def tuning_figure(path: Path, outcomes: Sequence, spec: float) -> Path:
    """Left: predicted vs measured accuracy (the alternative test). Right: accuracy before vs after tuning."""
    fig = _figure(10, 4.2)
    before = np.array([o.accuracy_before for o in outcomes]) * 100
    after = np.array([o.accuracy_after for o in outcomes]) * 100
    pred = np.array([o.predicted_accuracy for o in outcomes]) * 100
    tuned = np.array([o.tuned for o in outcomes])
    ax = fig.add_subplot(1, 2, 1)
    ax.scatter(before[~tuned], pred[~tuned], s=14, color="#4878a8", label="predicted in spec")
    ax.scatter(before[tuned], pred[tuned], s=14, color="#d0603a", label="predicted out of spec -> tuned")
    lim = [min(before.min(), pred.min()) - 1, max(before.max(), pred.max()) + 1]
    ax.plot(lim, lim, color="0.5", lw=0.8)
    ax.axvline(spec * 100, color="k", ls="--", lw=1)
    ax.axhline(spec * 100, color="k", ls="--", lw=1)
    ax.set_xlabel("measured test accuracy (%)")
    ax.set_ylabel("accuracy predicted from the signature (%)")
    ax.legend(fontsize=8)
    ax.set_title("Signature test", fontsize=10)
    ax = fig.add_subplot(1, 2, 2)
    ax.scatter(before[tuned], after[tuned], s=14, color="#d0603a")
    lim = [min(before.min(), after.min()) - 1, max(before.max(), after.max()) + 1]
    ax.plot(lim, lim, color="0.5", lw=0.8)
    ax.axvline(spec * 100, color="k", ls="--", lw=1)
    ax.axhline(spec * 100, color="k", ls="--", lw=1)
    ax.set_xlabel("accuracy before tuning (%)")
    ax.set_ylabel("accuracy after tuning (%)")
    ax.set_title(f"Tuned instances ({int(tuned.sum())})", fontsize=10)
    return _save(fig, path)


def strategies_figure(path: Path, comparison: dict, title: str = "") -> Path:
    """Yield and out-of-spec chips of every strategy (``comparison``: ``StrategyComparison.to_dict()``)."""
    fig = _figure(8, 4.2)
    rows = comparison["table"]
    names = [r["strategy"] for r in rows]
    x = np.arange(len(rows))
    ax = fig.add_subplot()
    colours = [_STRATEGY_STYLE[n][0] for n in names]
    bars = ax.bar(x, [100 * r["yield"] for r in rows], color=colours, alpha=0.85)
    for b, r in zip(bars, rows):
        ax.annotate(f"{100 * r['yield']:.0f} %\n{r['out_of_spec']} out", (b.get_x() + b.get_width() / 2,
                    b.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [n.replace("+", "+\n") for n in names], fontsize=8)
    ax.set_ylabel("yield (%)")
    ax.set_ylim(0, 112)
    ax.set_title(title or f"Strategies on the same {comparison['instances']} held-out instances "
                          f"(spec {100 * comparison['spec']:g} %; oracle = upper bound)", fontsize=10)
    return _save(fig, path)


def sensitivity_figure(path: Path, sensitivity: dict, spec: float, title: str = "") -> Path:
    """Yield of every strategy against each sensitivity axis, one panel per axis."""
    axes = list(sensitivity["axes"].items())
    fig = _figure(4.2 * len(axes) + 0.6, 4.2)
    for i, (axis, point) in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        v = np.array(point["values"], np.float64)
        for name, ys in point["yield"].items():
            colour, marker = _STRATEGY_STYLE[name]
            ax.plot(v, 100 * np.array(ys), marker=marker, color=colour, lw=1.2, ms=5,
                    ls="--" if name == "oracle" else "-", label=name + (" (upper bound)" if name == "oracle" else ""))
        ax.set_xlabel(_AXIS_LABELS.get(axis, axis))
        ax.set_ylim(-3, 103)
        if i == 0:
            ax.set_ylabel(f"yield (%), spec {100 * spec:g} %")
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title or f"Yield per strategy, {sensitivity['instances']} held-out instances per point "
                          f"(tuner trained on {sensitivity['train_instances']} others at each point)", fontsize=10)
    return _save(fig, path)


def study_figures(folder: Path, study) -> list[Path]:
    """The figures of a yield study (a :class:`hwsim.rram.yield_study.YieldStudyResult`) into ``folder``.

    ``accuracy_hist.png`` always; ``yield_vs_sigma.png`` with a sigma sweep; ``tuning.png`` with tuning;
    ``strategies.png`` with a strategy comparison; ``sensitivity.png`` with a sensitivity sweep.
    Returns the paths written.
    """
    from hwsim.rram.device import rram_config_of

    folder = Path(folder)
    chip = study.program.chip
    cfg = rram_config_of(chip)
    outcomes = study.outcomes
    out = [accuracy_histogram(
        folder / "accuracy_hist.png", study.accuracies, study.settings.spec, study.ideal_accuracy,
        after=np.array([o.accuracy_after for o in outcomes]) if outcomes else None,
        title=f"{study.settings.instances} {chip.name} instances, sigma={cfg.variation_sigma:g}, "
              f"array sigma={cfg.array_sigma:g}")]
    if study.sweep is not None:
        out.append(yield_vs_sigma(folder / "yield_vs_sigma.png", study.sweep, study.settings.spec))
    if outcomes:
        out.append(tuning_figure(folder / "tuning.png", outcomes, study.settings.spec))
    if getattr(study, "comparison", None) is not None:
        out.append(strategies_figure(folder / "strategies.png", study.comparison))
    if getattr(study, "sensitivity", None) is not None:
        out.append(sensitivity_figure(folder / "sensitivity.png", study.sensitivity, study.settings.spec))
    return out
