"""The report figures, drawn from a ``report.json`` dict (reads numbers, computes none; docs/energy.md §7).

Matplotlib's object API with the Agg canvas: no pyplot state, no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["FIGURE_FILES", "render_figures"]

FIGURE_FILES = ("energy_breakdown.png", "timesteps.png", "raster.png")  # timesteps.png only with a sweep


def render_figures(data: dict, folder: str | Path) -> list[Path]:
    """Draw the report figures from a ``report.json`` dict into ``folder`` (reads numbers, computes none).

    ``timesteps.png`` is drawn only when the report has a timestep sweep; the other figures always.
    Returns the paths written.
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
    return out
