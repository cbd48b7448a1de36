"""The report figures, drawn from a ``report.json`` dict (reads numbers, computes none; docs/energy.md §7).

Matplotlib's object API with the Agg canvas: no pyplot state, no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.report.area_figure import AREA_FIGURE, area_figure
from hwsim.report.noc import NOC_FIGURE, noc_heatmap
from hwsim.writers import figure_png

__all__ = ["FIGURE_FILES", "EXIT_FIGURE", "AREA_FIGURE", "render_figures", "exit_frontier_figure"]

FIGURE_FILES = ("energy_breakdown.png", "timesteps.png", "raster.png")  # timesteps.png only with a sweep
EXIT_FIGURE = "exit_frontier.png"  # only with an exit rule or an exit sweep (hwsim run --exit, --exit-sweep)


def render_figures(data: dict, folder: str | Path) -> list[Path]:
    """Draw the report figures from a ``report.json`` dict into ``folder`` (reads numbers, computes none).

    ``timesteps.png`` is drawn only when the report has a timestep sweep, ``exit_frontier.png`` only when it
    has an exit rule or an exit sweep, ``area_breakdown.png`` only when it has an area breakdown,
    ``noc_heatmap.png`` only on a ``noc = "mesh"`` chip (docs/noc.md); the other figures always. Returns the
    paths written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder = Path(folder)
    out = []
    title = (f"{data.get('meta', {}).get('network', '') or 'network'} on {data.get('chip', '')}, "
             f"T = {data['timesteps']}, {data['energy_nj_per_image']:.4g} nJ/image")

    # 1. energy breakdown by component and by layer
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=(1.25, 1))
    comp = data["energy_nj_by_component"]
    names = sorted(comp, key=lambda k: comp[k])
    labels = data.get("component_labels", {})
    share = data["energy_share_by_component"]
    ax1.barh([labels.get(k, k) for k in names], [comp[k] for k in names], color="tab:blue")
    for y, k in enumerate(names):
        ax1.annotate(f" {100 * share[k]:.1f} %", (comp[k], y), va="center", fontsize=8)
    ax1.set_xlabel("energy per image (nJ)")
    ax1.set_title("by component")
    ax1.margins(x=0.18)
    layer = data["energy_nj_by_layer"]
    lnames = list(layer)
    lshare = data["energy_share_by_layer"]
    ax2.bar(lnames, [layer[k] for k in lnames], color="tab:orange")
    for x, k in enumerate(lnames):
        ax2.annotate(f"{100 * lshare[k]:.1f} %", (x, layer[k]), ha="center", va="bottom", fontsize=8)
    ax2.set_ylabel("energy per image (nJ)")
    ax2.set_title("by layer (dynamic + own leakage)")
    ax2.tick_params(axis="x", labelrotation=20)
    ax2.margins(y=0.15)
    fig.suptitle(title)
    out.append(folder / "energy_breakdown.png")
    fig.savefig(out[-1], dpi=110)

    # 2. energy and accuracy versus timesteps: only with a sweep (--sweep none asks for no figure)
    sweep = data["sweep"]
    if sweep:
        fig = Figure(figsize=(6.5, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        Ts = [p["timesteps"] for p in sweep]
        ax.plot(Ts, [p["energy_nj_per_image"] for p in sweep], "o-", color="tab:blue", label="energy")
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ts, [str(t) for t in Ts])
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("energy per image (nJ)", color="tab:blue")
        ax.set_ylim(bottom=0)
        handles = ax.get_lines()[:]
        if any(p["accuracy"] is not None for p in sweep):
            ax_r = ax.twinx()
            handles += ax_r.plot(Ts, [100 * p["accuracy"] for p in sweep], "s--", color="tab:green",
                                 label="accuracy")
            ax_r.set_ylabel("accuracy (%)", color="tab:green")
            ax_r.set_ylim(0, 100)
        # the T of this report's main run (whose numbers the tables give), also when the sweep leaves it out
        handles.append(ax.axvline(data["timesteps"], color="grey", lw=0.8, ls=":",
                                  label=f"T = {data['timesteps']} of this report"))
        ax.legend(handles=handles, loc="lower right", fontsize=8)
        ax.set_title("energy and accuracy versus timesteps")
        out.append(folder / "timesteps.png")
        fig.savefig(out[-1], dpi=110)

    # 3. spike raster and firing rate per layer for one image
    raster = data.get("raster")
    layers = raster["layers"] if raster else []
    n = max(1, len(layers))
    fig = Figure(figsize=(11, 1.2 + 1.5 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 2, width_ratios=(4, 1), squeeze=False)
    if not layers:
        axes[0, 0].text(0.5, 0.5, "no raster recorded", ha="center", va="center")
    T = raster["timesteps"] if raster else 1
    for i, lay in enumerate(layers):
        ax, axr = axes[i]
        if lay.get("readout") == "membrane" and lay.get("membranes") is not None:
            mem = np.asarray(lay["membranes"], dtype=float)
            lim = max(1.0, float(np.abs(mem).max()))
            im = ax.imshow(mem, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest",
                           extent=(-0.5, lay["n_neurons"] - 0.5, T - 0.5, -0.5))
            fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03, label="membrane")
        else:
            pts = np.asarray(lay["spikes"]).reshape(-1, 2)
            # x = neuron, y = timestep: many neurons, few timesteps reads best this way
            ax.scatter(pts[:, 1], pts[:, 0], s=4 if lay["n_neurons"] > 64 else 12, marker="|", color="black",
                       linewidths=0.8)
            ax.set_xlim(-0.5, lay["n_neurons"] - 0.5)
            ax.set_ylim(T - 0.5, -0.5)
        ax.set_ylabel(f"{lay['name']}\ntimestep", fontsize=9)
        if T <= 16:
            ax.set_yticks(range(T))
            ax.tick_params(axis="y", labelsize=7)
        axr.set_xlim(0, 100)
        axr.set_yticks([])
        if lay["firing_rate"] is None:
            axr.text(50, 0, "membrane readout\n(no spikes)", ha="center", va="center", fontsize=9)
            axr.set_ylim(-1, 1)
        else:
            axr.barh([0], [100 * lay["firing_rate"]], color="tab:red")
            axr.annotate(f" {100 * lay['firing_rate']:.1f} %", (100 * lay["firing_rate"], 0), va="center",
                         fontsize=9)
    if layers:
        axes[-1, 0].set_xlabel("neuron index")
        axes[-1, 1].set_xlabel("firing rate (%)")
        extra = ""
        if raster.get("label") is not None:
            extra = f", label {raster['label']}, predicted {raster['prediction']}"
        fig.suptitle(f"spikes of image {raster['image']}{extra}")
    out.append(folder / "raster.png")
    fig.savefig(out[-1], dpi=110)

    # 4. the early-exit frontier: only with an exit rule or an exit sweep
    if "fixed_t_curve" in data:
        out.append(folder / EXIT_FIGURE)
        exit_frontier_figure(data, out[-1])

    # 5. the chip's area by block: only with a breakdown (a digital chip with a stored synthesis, docs/area.md)
    if data.get("area_by_block"):
        out.append(folder / AREA_FIGURE)
        area_figure(data, out[-1])

    # 6. the mesh network-on-chip's links: only on a noc = "mesh" chip (docs/noc.md)
    if data.get("noc") == "mesh":
        out.append(folder / NOC_FIGURE)
        noc_heatmap(data, *data["mesh_shape"], out[-1])
    return out


def exit_frontier_figure(data: dict, path: str | Path) -> bytes:
    """Accuracy and energy per image against the average timesteps run: the fixed-T curve (T = 1..T_max, the
    same run cut after T timesteps) and one point per exit rule of the sweep (and the report's own rule).
    Written atomically to ``path``; returns the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_e = fig.subplots(1, 2)
    curve = data["fixed_t_curve"]
    groups: dict[str, list[dict]] = {}
    for p in data["exit_sweep"]:
        groups.setdefault(p["rule"].partition(":")[0], []).append(p)
    main = None
    if "exit_rule" in data:
        main = {"rule": data["exit_rule"], "avg_timesteps": data["avg_timesteps"], "accuracy": data["accuracy"],
                "energy_nj_per_image": data["energy_nj_per_image"]}
    has_acc = any(p["accuracy"] is not None for p in curve)
    panels = [(ax_e, "energy_nj_per_image", 1.0, "energy per image (nJ)")]
    if has_acc:
        panels.insert(0, (ax_acc, "accuracy", 100.0, "accuracy (%)"))
    else:
        ax_acc.text(0.5, 0.5, "no labels: no accuracy", ha="center", va="center", transform=ax_acc.transAxes)
        ax_acc.set_axis_off()
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ax, key, factor, label in panels:
        Ts = [p["timesteps"] for p in curve]
        ax.plot(Ts, [factor * p[key] for p in curve], "o-", color="grey", label="fixed T (no exit)")
        if len(curve) <= 16:
            for p in curve:
                ax.annotate(f"T={p['timesteps']}", (p["timesteps"], factor * p[key]), fontsize=7,
                            textcoords="offset points", xytext=(3, -9), color="grey")
        for i, (name, points) in enumerate(groups.items()):
            pts = sorted(points, key=lambda p: p["avg_timesteps"])
            ax.plot([p["avg_timesteps"] for p in pts], [factor * p[key] for p in pts], "s-",
                    color=colours[i % len(colours)], label=f"exit: {name}")
            for p in pts:
                ax.annotate(p["rule"].partition(":")[2], (p["avg_timesteps"], factor * p[key]), fontsize=7,
                            textcoords="offset points", xytext=(3, 4), color=colours[i % len(colours)])
        if main is not None and main[key] is not None:
            ax.plot([main["avg_timesteps"]], [factor * main[key]], "*", color="black", markersize=13,
                    label=f"this report: {main['rule']}")
        ax.set_xlabel("average timesteps per image")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    ax_e.set_ylim(bottom=0)
    (panels[0][0]).legend(loc="lower right", fontsize=8)
    name = data.get("meta", {}).get("network", "") or "network"
    fig.suptitle(f"early-exit frontier: {name} on {data.get('chip', '')}, T_max = {data['timesteps']}")
    return figure_png(fig, path, dpi=110)
