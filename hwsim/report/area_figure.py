"""The report's area figure: the chip's area by block, one core and the whole chip (docs/area.md).

Drawn from ``report.json``'s ``area_by_block`` (:func:`hwsim.area.model.area_breakdown`); reads numbers,
computes none. A report without it (an RRAM chip, or a config with no stored synthesis: ``area_source``
says why) gets no area figure.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.writers import figure_png

__all__ = ["AREA_FIGURE", "area_figure"]

AREA_FIGURE = "area_breakdown.png"  # only when the report has an area breakdown (area_by_block)

_KIND_COLOURS = {"sram": "tab:blue", "register file": "tab:cyan", "logic": "tab:orange"}


def _bars(ax, blocks: list[dict], value_key: str, share_key: str, label) -> None:
    names = [label(b) for b in blocks]
    values = [b[value_key] for b in blocks]
    ax.barh(range(len(blocks)), values, color=[_KIND_COLOURS.get(b["kind"], "tab:gray") for b in blocks])
    ax.set_yticks(range(len(blocks)), names, fontsize=8)
    ax.invert_yaxis()
    for y, b in enumerate(blocks):
        ax.annotate(f" {100 * b[share_key]:.1f} %", (b[value_key], y), va="center", fontsize=7)
    ax.set_xlabel("area (mm²)")
    ax.margins(x=0.2)


def area_figure(data: dict, path: str | Path) -> bytes:
    """Two bar charts of ``data['area_by_block']``: one core's blocks, and the chip's (core blocks times the
    core count, plus routers, host port, chip controller, exit unit and glue). Written atomically to ``path``;
    returns the PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    area = data["area_by_block"]
    n = area["n_cores"]
    core_blocks = [b for b in area["blocks"] if b["scope"] == "core"]
    rows = max(len(core_blocks), len(area["blocks"]))
    fig = Figure(figsize=(11, 1.6 + 0.3 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    ax_core, ax_chip = fig.subplots(1, 2)
    _bars(ax_core, core_blocks, "mm2", "share_of_core", lambda b: b["name"])
    ax_core.set_title(f"one core: {area['core_mm2']:.4g} mm²", fontsize=10)

    def chip_label(b: dict) -> str:
        copies = n if b["scope"] == "core" else b["instances"]
        return b["name"] + (f" (x{copies})" if copies > 1 else "")

    _bars(ax_chip, area["blocks"], "chip_mm2", "share_of_chip", chip_label)
    ax_chip.set_title(f"chip: {n} core{'s' if n != 1 else ''} x {area['core_mm2']:.4g} mm² + "
                      f"{area['chip_level_mm2']:.4g} mm² chip level = {area['chip_mm2']:.4g} mm²", fontsize=10)
    fig.suptitle(f"area of {data.get('chip', '')}: predicted by Yosys synthesis of rtl/ and the sourced area table "
                 f"{area['area_table']}, not fitted (blue SRAM, cyan register files, orange logic)", fontsize=10)
    return figure_png(fig, path, dpi=110)
