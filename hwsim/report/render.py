"""Rendering a report: the markdown table, the CSV files, and the whole output folder.

Renderers read the numbers of a ``report.json`` dict and compute none (docs/energy.md §7).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from hwsim.outdir import atomic_outdir, check_outdir
from hwsim.report import figures as figure_drawing
from hwsim.report.model import Report, ReportError

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
                           f"p5-p95 {s['energy_nj_p05']:.4g}-{s['energy_nj_p95']:.4g})"),
        ("  dynamic / leakage", f"{s['dynamic_nj_per_image']:.4g} nJ / {s['static_nj_per_image']:.4g} nJ"),
        ("latency / image", f"{s['latency_us_per_image']:.4g} us ({s['latency_cycles_per_image']:.0f} cycles)"),
        ("throughput", f"{s['throughput_images_per_s']:,.0f} images/s"),
        ("SOPs / image", f"{s['sops_per_image']:,.0f}"),
        ("energy / SOP", "n/a" if s["pj_per_sop"] is None else f"{s['pj_per_sop']:.2f} pJ"),
        ("energy-delay product", f"{s['edp_nj_us']:.4g} nJ*us"),
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
    return "\n".join(lines) + "\n"


def _csv_rows(data: dict) -> list[tuple[str, str, object, str]]:
    rows: list[tuple[str, str, object, str]] = []
    units = {
        "energy_nj_per_image": "nJ", "energy_nj_std": "nJ", "energy_nj_min": "nJ", "energy_nj_p05": "nJ",
        "energy_nj_p95": "nJ", "energy_nj_max": "nJ", "dynamic_nj_per_image": "nJ", "static_nj_per_image": "nJ",
        "latency_cycles_per_image": "cycles", "latency_us_per_image": "us", "throughput_images_per_s": "images/s",
        "sops_per_image": "SOPs", "pj_per_sop": "pJ", "edp_nj_us": "nJ*us", "static_power_uw": "uW",
    }
    rows.append(("summary", "accuracy", data["accuracy"], "fraction"))
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
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    path.write_text(buf.getvalue(), encoding="utf-8")


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
            rows = report.image_rows()
            _write_csv(tmp / "images.csv", list(rows[0]), [list(r.values()) for r in rows])
        (tmp / "report.md").write_text(render_table(data), encoding="utf-8")
        if figures:
            figure_drawing.render_figures(data, tmp)  # looked up at call time: tests replace it
        for name, blob in (extra_files or {}).items():
            if Path(name).name != name:
                raise ReportError(f"extra file name {name!r} must be a plain file name")
            (tmp / name).write_bytes(blob)
    return outdir
