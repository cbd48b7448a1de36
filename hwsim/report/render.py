"""Rendering a report: the markdown table, the CSV files, and the whole output folder.

Renderers read the numbers of a ``report.json`` dict and compute none (docs/energy.md §7).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from hwsim.outdir import atomic_outdir, check_outdir
from hwsim.report import figures as figure_drawing
from hwsim.report.model import Report, ReportError
from hwsim.report.noc import noc_csv_rows, noc_lines

__all__ = ["REPORT_FILES", "REPORT_MARKER", "render_table", "write_report"]

REPORT_FILES = ("report.json", "report.csv", "images.csv", "report.md")
REPORT_MARKER = "report.json"  # marks a report folder: only such a folder (or an empty one) is replaced


def render_table(data: dict) -> str:
    """The human summary of a ``report.json`` dict as a markdown table (reads numbers, computes none)."""
    s = data["summary"]
    meta = data.get("meta", {})
    acc = data.get("accuracy")
    rows = [
        ("chip", f"{data.get('chip', '')} ({data['table']['name']} table v{data['table']['version']}, "
                 f"scale {data['table']['global_scale']:g}, {data['clock_mhz']:g} MHz)"),
        *([("chip instance", f"seed {data['instance_seed']}, ADC scales {data['adc_scales']}")]
          if data.get("core_type") == "rram" else []),
        ("workload", f"{meta.get('dataset', '?')}, {data['n_images']} images, "
                     f"{data['timesteps']} timesteps, {meta.get('encoding', '?')} coding"),
        ("accuracy", "n/a" if acc is None else f"{100 * acc:.2f} %"),
        ("energy / image", f"{s['energy_nj_per_image']:.4g} nJ (std {s['energy_nj_std']:.3g}, "
                           f"p5-p95 {s['energy_nj_p05']:.4g}-{s['energy_nj_p95']:.4g})" + _band(data)),
        ("  dynamic / leakage", f"{s['dynamic_nj_per_image']:.4g} nJ / {s['static_nj_per_image']:.4g} nJ"),
        ("latency / image", f"{s['latency_us_per_image']:.4g} us ({s['latency_cycles_per_image']:.0f} cycles)"),
        ("throughput", f"{s['throughput_images_per_s']:,.0f} images/s"),
        ("SOPs / image", f"{s['sops_per_image']:,.0f}"),
        ("energy / SOP", "n/a" if s["pj_per_sop"] is None else f"{s['pj_per_sop']:.2f} pJ"),
        ("energy-delay product", f"{s['edp_nj_us']:.4g} nJ*us"),
        *([("area", _area(data))] if "area_mm2" in data else []),
        *noc_lines(data),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'metric':<{width}} | value |", f"| {'-' * width} | ----- |"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    comp = data["energy_nj_by_component"]
    share = data["energy_share_by_component"]
    labels = data.get("component_labels", {})
    lines += ["", "| component | nJ / image | share |", "| --- | --- | --- |"]
    for k in sorted(comp, key=lambda k: -comp[k]):
        lines.append(f"| {labels.get(k, k)} | {comp[k]:.4g} | {100 * share[k]:.1f} % |")
    layer = data["energy_nj_by_layer"]
    lshare = data["energy_share_by_layer"]
    rates = data.get("firing_rates", {})
    lines += ["", "| layer | nJ / image | share | firing rate |", "| --- | --- | --- | --- |"]
    for k, v in layer.items():
        rate = "" if k not in rates else "membrane readout" if rates[k] is None else f"{100 * rates[k]:.1f} %"
        lines.append(f"| {k} | {v:.4g} | {100 * lshare[k]:.1f} % | {rate} |")
    if "fixed_t_curve" in data:  # early exit (chip-spec §1.4): only when a rule or a sweep was asked
        lines += _exit_lines(data)
    return "\n".join(lines) + "\n"


def _band(data: dict) -> str:
    """`` (band low-high)``: the table's marked assumptions at their ends (docs/energy.md §10); '' without."""
    low, high = data.get("energy_nj_per_image_low"), data.get("energy_nj_per_image_high")
    return "" if low is None or high is None else f" (band {low:.4g}-{high:.4g})"


def _area(data: dict) -> str:
    """The chip's area and what it is (docs/area.md), or why there is none."""
    a = data.get("area_by_block")
    if data["area_mm2"] is None or a is None:
        return f"n/a: {data['area_source']}"
    return (f"{data['area_mm2']:.4g} mm2 ({a['n_cores']} x {a['core_mm2']:.4g} mm2 core + {a['chip_level_mm2']:.4g} "
            f"mm2 chip level; predicted by Yosys synthesis of rtl/ and a sourced area table, not fitted: "
            f"{data['area_source']})")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _exit_lines(data: dict) -> list[str]:
    """The early-exit summary: the rule against the fixed-T run, then the sweep and the fixed-T curve."""
    T = data["timesteps"]
    lines = [""]
    if "exit_rule" in data:
        lines += [
            "| early exit | value |",
            "| --- | --- |",
            f"| rule | {data['exit_rule']}"
            + (f" (scale {data['exit_scale']:.4g}, {data['exit_scale_source']})" if data.get("exit_scale") else "")
            + " |",
            f"| timesteps run | {data['avg_timesteps']:.3g} on average, at most {data['max_timesteps']} (of T = {T}) |",
            f"| images per exit timestep 1..{T} | {', '.join(map(str, data['exit_histogram']))} |",
            f"| fixed T = {T} (same run, no exit) | accuracy {_percent(data['accuracy_fixed_t'])}, "
            f"{data['energy_nj_per_image_fixed_t']:.4g} nJ, {data['latency_us_per_image_fixed_t']:.4g} us |",
            f"| saving | energy {100 * data['energy_saving']:.1f} %, latency {100 * data['latency_saving']:.1f} % |",
            "",
        ]
    lines += ["| exit frontier | avg timesteps | accuracy | nJ / image | energy saving |",
              "| --- | --- | --- | --- | --- |"]
    for p in data["exit_sweep"]:
        lines.append(f"| {p['rule']} | {p['avg_timesteps']:.3g} | {_percent(p['accuracy'])} | "
                     f"{p['energy_nj_per_image']:.4g} | {100 * p['energy_saving']:.1f} % |")
    for p in data["fixed_t_curve"]:
        lines.append(f"| fixed T = {p['timesteps']} | {p['timesteps']} | {_percent(p['accuracy'])} | "
                     f"{p['energy_nj_per_image']:.4g} | |")
    return lines


def _csv_rows(data: dict) -> list[tuple[str, str, object, str]]:
    rows: list[tuple[str, str, object, str]] = []
    units = {
        "energy_nj_per_image": "nJ", "energy_nj_std": "nJ", "energy_nj_min": "nJ", "energy_nj_p05": "nJ",
        "energy_nj_p95": "nJ", "energy_nj_max": "nJ", "dynamic_nj_per_image": "nJ", "static_nj_per_image": "nJ",
        "latency_cycles_per_image": "cycles", "latency_us_per_image": "us", "throughput_images_per_s": "images/s",
        "sops_per_image": "SOPs", "pj_per_sop": "pJ", "edp_nj_us": "nJ*us", "static_power_uw": "uW",
    }
    rows.append(("summary", "accuracy", data["accuracy"], "fraction"))
    for k in ("energy_nj_per_image_low", "energy_nj_per_image_high"):
        if data.get(k) is not None:  # the band of docs/energy.md §10
            rows.append(("summary", k, data[k], "nJ"))
    if data.get("area_mm2") is not None:  # docs/area.md
        rows.append(("summary", "area_mm2", data["area_mm2"], "mm2"))
    rows += noc_csv_rows(data)  # mesh chips only (docs/noc.md)
    rows.append(("summary", "timesteps", data["timesteps"], ""))
    rows.append(("summary", "n_images", data["n_images"], ""))
    for k, v in data["summary"].items():
        rows.append(("summary", k, v, units.get(k, "")))
    for k, v in data["energy_nj_by_component"].items():
        rows.append(("component", k, v, "nJ/image"))
    for k, v in data["energy_nj_by_layer"].items():
        rows.append(("layer", k, v, "nJ/image"))
    for k, v in data["energy_pj_by_action"].items():
        rows.append(("action_energy", k, v, "pJ/image"))
    for k, v in data["action_counts_per_image"].items():
        rows.append(("action_count", k, v, "count/image"))
    for k, v in data["firing_rates"].items():
        rows.append(("firing_rate", k, v, "fraction" if v is not None else "membrane readout"))
    for p in data["sweep"]:
        T = p["timesteps"]
        rows.append(("sweep", f"T={T}:accuracy", p["accuracy"], "fraction"))
        rows.append(("sweep", f"T={T}:energy_nj_per_image", p["energy_nj_per_image"], "nJ"))
        rows.append(("sweep", f"T={T}:latency_us_per_image", p["latency_us_per_image"], "us"))
    if "fixed_t_curve" in data:  # early exit only
        rows += _exit_csv_rows(data)
    return rows


_EXIT_UNITS = {
    "avg_timesteps": "timesteps", "max_timesteps": "timesteps", "accuracy": "fraction",
    "accuracy_fixed_t": "fraction", "energy_nj_per_image": "nJ", "energy_nj_per_image_fixed_t": "nJ",
    "latency_us_per_image": "us", "latency_us_per_image_fixed_t": "us", "energy_saving": "fraction",
    "latency_saving": "fraction",
}


def _exit_csv_rows(data: dict) -> list[tuple[str, str, object, str]]:
    rows: list[tuple[str, str, object, str]] = []
    if "exit_rule" in data:
        rows.append(("exit", "exit_rule", data["exit_rule"], ""))
        for k in ("avg_timesteps", "max_timesteps", "accuracy_fixed_t", "energy_nj_per_image_fixed_t",
                  "latency_us_per_image_fixed_t", "energy_saving", "latency_saving"):
            rows.append(("exit", k, data[k], _EXIT_UNITS[k]))
        for t, n in enumerate(data["exit_histogram"], start=1):
            rows.append(("exit", f"exit_histogram:t={t}", n, "images"))
    if data.get("exit_scale") is not None:
        rows.append(("exit", "exit_scale", data["exit_scale"], "logit units per output step"))
    for p in data["exit_sweep"]:
        for k in ("avg_timesteps", "max_timesteps", "accuracy", "energy_nj_per_image", "latency_us_per_image",
                  "energy_saving", "latency_saving"):
            rows.append(("exit_sweep", f"{p['rule']}:{k}", p[k], _EXIT_UNITS[k]))
    for p in data["fixed_t_curve"]:
        T = p["timesteps"]
        rows.append(("fixed_t_curve", f"T={T}:accuracy", p["accuracy"], "fraction"))
        rows.append(("fixed_t_curve", f"T={T}:energy_nj_per_image", p["energy_nj_per_image"], "nJ"))
        rows.append(("fixed_t_curve", f"T={T}:latency_us_per_image", p["latency_us_per_image"], "us"))
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    # row by row into the file (inside the report's temporary folder, so still atomic): images.csv of a large
    # run is not held in memory
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])


def write_report(report: Report | dict, outdir: str | Path, *, figures: bool = True,
                 extra_files: dict[str, bytes] | None = None) -> Path:
    """Write every report file into ``outdir`` atomically.

    Files go into a temporary folder next to ``outdir``; only when all of them
    are written is it renamed to ``outdir`` (an earlier report there is
    replaced). If anything fails, ``outdir`` is left as it was.

    Args:
        report: A :class:`Report` (or its ``to_dict()``; then ``images.csv`` is not written).
        outdir: Output folder.
        figures: Also draw the PNG figures.
        extra_files: More files to put in the folder, name -> bytes (e.g. the chip program).

    Raises:
        OutputPathError: ``outdir`` is a file, or a folder that holds something other than an earlier report.
        ReportError: an extra file name is not a plain file name.
    """
    outdir = check_outdir(outdir, REPORT_MARKER)
    data = report.to_dict() if isinstance(report, Report) else report
    with atomic_outdir(outdir, REPORT_MARKER) as tmp:
        (tmp / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        _write_csv(tmp / "report.csv", ("section", "key", "value", "unit"), _csv_rows(data))
        if isinstance(report, Report):
            rows = report.iter_image_rows()
            first = next(rows)
            _write_csv(tmp / "images.csv", list(first), (list(r.values()) for r in itertools.chain([first], rows)))
        (tmp / "report.md").write_text(render_table(data), encoding="utf-8")
        if figures:
            figure_drawing.render_figures(data, tmp)  # looked up at call time: tests replace it
        for name, blob in (extra_files or {}).items():
            if Path(name).name != name:
                raise ReportError(f"extra file name {name!r} must be a plain file name")
            (tmp / name).write_bytes(blob)
    return outdir
