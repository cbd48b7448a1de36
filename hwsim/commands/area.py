"""``hwsim area``: chip area from the RTL by Yosys synthesis (docs/area.md).

Synthesises the chip config's core (``snn_core``) and chip level (``snn_chip`` with the cores as black
boxes) to generic gates, counts them in NAND2 equivalents, counts the memories in bits, and converts
both to µm² with the area table (``hwsim/area/tables/<technology>.toml``). Prints a table per block and
writes ``area.json`` and ``area.png`` (the breakdown) into the output folder, replaced as a whole.

Synthesis results are cached per (module, parameters, RTL, Yosys version) outside the repository
(``$HWSIM_AREA_CACHE`` or ``~/.cache/hwsim/area``): the first run of a big core takes minutes, a
repeated one a second.

Examples::

    hwsim area                          # default_28nm
    hwsim area --chip small -o area-small --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "print_table", "area_figure"]

MARKER = "area.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chip", default="default_28nm", metavar="CONFIG",
                        help="chip preset name or .toml file (default: default_28nm)")
    parser.add_argument("--table", metavar="NAME|FILE",
                        help="area table (default: the chip's technology, hwsim/area/tables/<technology>.toml)")
    parser.add_argument("-o", "--outdir", default="area-out", metavar="DIR",
                        help="output folder for area.json and area.png (default: area-out)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--no-figures", action="store_true", help="do not draw area.png")
    parser.add_argument("--no-cache", action="store_true", help="synthesise again even if a cached result exists")
    parser.add_argument("--max-cores", type=int, default=16, metavar="N",
                        help="refuse chips of more than N cores (default 16: the RTL's all-to-all delivery makes "
                        "bigger meshes slow to synthesise, see docs/area.md)")


def print_table(report: dict, out=sys.stdout) -> None:
    """The per-block table of an area report (``AreaReport.to_dict()``)."""
    n = report["n_cores"]
    print(f"area of {report['chip']} ({n} core{'s' if n != 1 else ''}, table {report['area_table']})", file=out)
    print(f"{'block':<26}{'scope':>6}{'kind':>15}{'NAND2 eq':>12}{'bits':>10}{'um2':>13}{'% chip':>8}", file=out)
    total = report["chip_um2"]
    for b in report["blocks"]:
        share = b["um2"] * (n if b["scope"] == "core" else 1) / total * 100 if total else 0.0
        bits = str(b["bits"]) if b["bits"] else ""
        print(f"{b['name']:<26}{b['scope']:>6}{b['kind']:>15}{b['nand2']:>12.0f}{bits:>10}{b['um2']:>13.1f}"
              f"{share:>7.1f}%", file=out)
    print(f"one core: {report['core_um2']:.1f} um2 = {report['core_mm2']:.4f} mm2; chip level (routers, host port, "
          f"controller, exit unit, glue): {report['chip_level_um2']:.1f} um2", file=out)
    print(f"chip: {n} x core + chip level = {report['chip_mm2']:.4f} mm2", file=out)


def area_figure(report: dict):
    """A bar chart of the chip's area by block (cores' blocks times the core count), µm²."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = report["n_cores"]
    names, values, colours = [], [], []
    palette = {"sram": "tab:blue", "register file": "tab:cyan", "logic": "tab:orange"}
    for b in report["blocks"]:
        copies = n if b["scope"] == "core" else b.get("instances", 1)
        names.append(f"{b['name']}" + (f" (x{copies})" if copies > 1 else ""))
        values.append(b["um2"] * (n if b["scope"] == "core" else 1) / 1e6)
        colours.append(palette.get(b["kind"], "tab:gray"))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(names) + 1.4))
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("area (mm²)")
    ax.set_title(f"{report['chip']}: {report['chip_mm2']:.3f} mm² (table {report['area_table']}; "
                 "blue SRAM, cyan register files, orange logic)", fontsize=9)
    fig.tight_layout()
    return fig


def run(args: argparse.Namespace) -> int:
    from hwsim.area.model import check_synthesisable, chip_area
    from hwsim.area.table import load_area_table
    from hwsim.commands.common import check_int, check_name_or_file, input_paths
    from hwsim.config import load_chip_config
    from hwsim.outdir import atomic_outdir, check_outdir
    from hwsim.writers import atomic_write_bytes, figure_png

    check_int("--max-cores", args.max_cores, 1, 64 * 64)
    check_name_or_file("--chip", args.chip)
    check_name_or_file("--table", args.table)
    check_outdir(args.outdir, MARKER, inputs=input_paths(args, {"--chip": "chip", "--table": "table"}))
    chip = load_chip_config(args.chip)
    check_synthesisable(chip, args.max_cores)  # before looking for an area table (an RRAM chip has none)
    table = load_area_table(args.table or chip.technology)
    if not args.json:
        print(f"synthesising {chip.name} with Yosys (cached per module and parameters; a big core takes minutes "
              "the first time)", file=sys.stderr)
    report = chip_area(chip, table, use_cache=not args.no_cache, max_cores=args.max_cores).to_dict()
    with atomic_outdir(args.outdir, MARKER) as tmp:
        atomic_write_bytes(Path(tmp) / MARKER, (json.dumps(report, indent=1) + "\n").encode())
        if not args.no_figures:
            import matplotlib.pyplot as plt

            fig = area_figure(report)
            try:
                figure_png(fig, Path(tmp) / "area.png")
            finally:
                plt.close(fig)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
        print(f"wrote {Path(args.outdir) / MARKER}" + ("" if args.no_figures else " and area.png"))
    return 0
