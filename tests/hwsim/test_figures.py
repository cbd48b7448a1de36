"""Figures say what they show (issue 12 §6): no empty timestep figure, every line labelled, whole-number
count ticks, link numbers in mesh.png as large as the other labels.

The figures are inspected as Matplotlib objects, caught when they are saved, not as pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from hwsim.cli import main
from hwsim.config import load_chip_config
from hwsim.testing import random_network


@pytest.fixture
def saved_figures(monkeypatch):
    """Every Matplotlib figure saved while the test runs, by file name."""
    saved = {}
    original = Figure.savefig

    def record(fig, fname, *args, **kwargs):
        name = getattr(fname, "name", None) or str(fname)
        saved[name.rsplit("/", 1)[-1]] = fig
        return original(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


@pytest.fixture
def net_file(tmp_path):
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(7), [64, 24, 10], core, threshold=30)
    net.metadata.update({"timesteps": 8, "encoding": "rate"})
    return net.save(tmp_path / "net.npz")


def test_no_sweep_writes_no_timestep_figure(tmp_path, capsys, net_file):
    out = tmp_path / "out"
    assert main(["run", "--net", str(net_file), "--limit", "4", "--sweep", "none", "-q", "-o", str(out)]) == 0
    # area_breakdown.png: default_28nm has a stored synthesis (docs/area.md)
    assert sorted(p.name for p in out.glob("*.png")) == ["area_breakdown.png", "energy_breakdown.png", "raster.png"]
    assert "timesteps.png" not in capsys.readouterr().out  # nor is it listed as written


def test_report_timestep_is_labelled_when_the_sweep_leaves_it_out(tmp_path, net_file, saved_figures):
    out = tmp_path / "out"
    assert main(["run", "--net", str(net_file), "--limit", "4", "--sweep", "1,4", "-q", "-o", str(out)]) == 0
    assert (out / "timesteps.png").exists()
    fig = saved_figures["timesteps.png"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert "T = 8 of this report" in labels
    # every line on every axis of the figure is in the legend: nothing drawn is left unexplained
    drawn = [line.get_label() for a in fig.axes for line in a.get_lines()]
    assert sorted(drawn) == sorted(labels) == sorted(["energy", "accuracy", "T = 8 of this report"])
    marker = next(line for line in ax.get_lines() if line.get_label() == "T = 8 of this report")
    assert list(marker.get_xdata()) == [8, 8]


def test_yield_histogram_counts_have_whole_number_ticks(tmp_path, saved_figures):
    from hwsim.rram import figures

    # three instances, each alone in its bin: Matplotlib's default ticks would be 0, 0.2, ..., 1
    figures.accuracy_histogram(tmp_path / "hist.png", np.array([0.90, 0.93, 0.97]), spec=0.92, ideal=0.98)
    assert len(saved_figures) == 1  # drawn into memory, then written atomically
    fig = next(iter(saved_figures.values()))
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 2
    assert all(float(t).is_integer() for t in ticks), ticks
    assert (tmp_path / "hist.png").read_bytes()[:4] == b"\x89PNG"


def test_mesh_link_numbers_are_as_large_as_the_core_labels(tmp_path, monkeypatch, rng):
    import matplotlib.axes

    from mapping import plan
    from mapping.summary import _fmt, build_report, plot_mesh

    texts = []
    original = matplotlib.axes.Axes.text

    def record(ax, x, y, s, *args, **kwargs):
        texts.append((s, kwargs.get("fontsize")))
        return original(ax, x, y, s, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "text", record)
    chip = load_chip_config("small").replace(mesh_rows=3, mesh_cols=3)
    net = random_network(rng, [40, 50, 20, 7], chip.core)
    report = build_report(plan(net, chip, rates=[0.5, 0.25, 0.125, 0.0625]))
    assert plot_mesh(report, tmp_path / "mesh.png")[:4] == b"\x89PNG"
    link_values = {_fmt(link["packets_per_timestep"]) for link in report["links"]}
    link_sizes = [size for s, size in texts if s in link_values]
    core_sizes = [size for s, size in texts if s.startswith("core ")]
    assert len(link_sizes) == len(report["links"]) > 0
    # 8 pt is 14 px at mesh.png's 130 dpi; the old 5.5 pt (10 px) was too small to read
    assert min(link_sizes) >= 8 and min(link_sizes) >= max(core_sizes)


@pytest.fixture
def rng():
    return np.random.default_rng(12)
