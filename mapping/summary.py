"""Summary of a mapping (the mapper's last stage): ``mapping.json`` (all numbers), a markdown table, a mesh figure.

:func:`build_report` computes every number once into a JSON-serialisable
dict; :func:`render_markdown` and :func:`plot_mesh` only format and draw
what is in that dict. :func:`write_outputs` writes ``program.npz``,
``mapping.json``, ``mapping.md`` and ``mesh.png`` into a folder, each file
atomically (``hwsim map`` also replaces the folder as a whole, see :mod:`hwsim.outdir`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwsim.writers import atomic_write_bytes, figure_png
from mapping.mapper import MappedNetwork
from mapping.placement import link_traffic

__all__ = [
    "build_report", "tiling_report", "render_markdown", "plot_mesh", "write_outputs", "OUTPUT_FILES", "REPORT_FORMAT",
]

REPORT_FORMAT = "hwsim-mapping-report"
#: Fixed names of the files :func:`write_outputs` writes.
OUTPUT_FILES = {"program": "program.npz", "json": "mapping.json", "markdown": "mapping.md", "figure": "mesh.png"}


def _pct(a: float, b: float) -> float:
    return 100.0 * a / b if b else 0.0


def build_report(mapped: MappedNetwork) -> dict:
    """All numbers of a mapping: layers, per-core utilisation, placement cost, per-link traffic."""
    net, chip, pl, prog = mapped.network, mapped.chip, mapped.placement, mapped.program
    cc = chip.core
    part_of_core = {c: i for i, c in enumerate(pl.cores)}
    cores = []
    for cp in sorted(prog.cores, key=lambda c: c.core):
        i = part_of_core[cp.core]
        part = pl.parts[i]
        row, col = chip.position(cp.core)
        nnz = int(np.count_nonzero(cp.weights))
        used = cp.n_axons * cp.n_neurons
        cores.append(
            {
                "core": cp.core,
                "row": row,
                "col": col,
                "stage": cp.stage,
                "layer": part.layer,
                "layer_name": net.layers[part.layer].name,
                "label": cp.label,
                "part": part.index,
                "neurons": cp.n_neurons,
                "neurons_capacity": cc.neurons,
                "neuron_util_percent": _pct(cp.n_neurons, cc.neurons),
                "axons": cp.n_axons,
                "axons_capacity": cc.axons,
                "axon_util_percent": _pct(cp.n_axons, cc.axons),
                "synapse_bits": used * cc.w_bits,
                "synapse_bits_capacity": cc.axons * cc.neurons * cc.w_bits,
                "synapse_util_percent": _pct(used, cc.axons * cc.neurons),
                "synapses_stored": used,
                "nonzero_synapses": nnz,
                "nonzero_percent_of_stored": _pct(nnz, used),
                "routes": len(cp.routes),
                "output_core": cp.is_output,
                "expected_spikes_per_timestep": float(pl.traffic.part_rates[i]),
            }
        )
    layers = []
    for k, layer in enumerate(net.layers):
        nnz = int(layer.weights.nnz if layer.is_sparse else np.count_nonzero(layer.weights))  # CSC stores no zeros
        layers.append(
            {
                "index": k,
                "name": layer.name,
                "n_in": layer.n_in,
                "n_out": layer.n_out,
                "threshold": layer.threshold,
                "leak_shift": layer.leak_shift,
                "integration": layer.integration,
                "reset": layer.reset,
                "fire": layer.fire,
                "cores": [c for p, c in zip(pl.parts, pl.cores) if p.layer == k],
                "synapses_stored": layer.n_in * layer.n_out,
                "nonzero_synapses": nnz,
                "nonzero_percent_of_stored": _pct(nnz, layer.n_in * layer.n_out),
            }
        )
    load = link_traffic(pl, chip)
    links = [
        {
            "src": a,
            "dst": b,
            "src_rc": list(chip.position(a)),
            "dst_rc": list(chip.position(b)),
            "packets_per_timestep": v,
        }
        for (a, b), v in sorted(load.items())
    ]
    stored = sum(c["synapses_stored"] for c in cores)
    report = {
        "format": REPORT_FORMAT,
        "version": 1,
        "network": {
            "name": str(net.metadata.get("name", "")),
            "sizes": net.sizes,
            "readout": net.readout,
            "source": str(net.metadata.get("source", "hwsim")),
            "layers": layers,
        },
        "chip": chip.to_dict(),
        "design_rules_checked": list(mapped.rules_checked),
        "placement": pl.to_dict(),
        "host": {"core": 0, "packets_per_timestep": float(pl.traffic.host.sum())},
        "cores": cores,
        "links": links,
        "totals": {
            "cores_used": len(cores),
            "cores_total": chip.n_cores,
            "neurons": sum(c["neurons"] for c in cores),
            "neurons_capacity": chip.n_cores * cc.neurons,
            "synapse_bits": stored * cc.w_bits,
            "synapse_bits_capacity": chip.n_cores * cc.axons * cc.neurons * cc.w_bits,
            "synapses_stored": stored,
            "nonzero_synapses": sum(c["nonzero_synapses"] for c in cores),
            "nonzero_percent_of_stored": _pct(sum(c["nonzero_synapses"] for c in cores), stored),
            "link_packet_hops_per_timestep": float(sum(load.values())),
            "busiest_link_packets_per_timestep": max(load.values(), default=0.0),
        },
    }
    tiling = tiling_report(mapped)
    if tiling is not None:
        report["tiling"] = tiling
    if "nir_import" in net.metadata:
        report["nir_import"] = net.metadata["nir_import"]
        report["network"]["dt_s"] = net.metadata.get("dt_s")
    return report


def tiling_report(mapped: MappedNetwork) -> list[dict] | None:
    """Per layer: tiles, cores (partial-sum cores too), axons used and idle, weight words, packets.

    None when every layer was mapped as earlier versions did (whole input per part, no chains), so
    the reports of fully connected networks keep their bytes.
    """
    pl, chip = mapped.placement, mapped.chip
    parts = pl.parts
    if all(p.routing == "whole" and p.chain == 1 for p in parts):
        return None
    a_cap = chip.core.axons
    by_core = {c.core: c for c in mapped.program.cores}
    inflow = np.array(pl.traffic.host, dtype=np.float64)  # expected packets per timestep into each part
    for _, j, r in pl.traffic.flows:
        inflow[j] += r
    out = []
    for k, layer in enumerate(mapped.network.layers):
        idx = [i for i, p in enumerate(parts) if p.layer == k]
        lt = pl.tiling.layers[k] if pl.tiling is not None else None
        used = sum(by_core[pl.cores[i]].n_axons for i in idx)
        words = sum(by_core[pl.cores[i]].weights.size for i in idx)
        psum = [i for i in idx if parts[i].is_psum]
        out.append(
            {
                "index": k,
                "name": layer.name,
                "shape": list(layer.shape) if layer.shape is not None else None,
                "routing": parts[idx[0]].routing,
                "tile": lt.tile.to_list() if lt is not None and lt.tile is not None else None,
                "parts": len({parts[i].index for i in idx}),
                "cores": len(idx),
                "partial_sum_cores": len(psum),
                "longest_chain": max(parts[i].chain for i in idx),
                "axons_used": used,
                "axons_idle": len(idx) * a_cap - used,
                "weight_words_stored": int(words),
                "nonzero_weights_stored": int(sum(np.count_nonzero(by_core[pl.cores[i]].weights) for i in idx)),
                "packets_in_per_timestep": float(inflow[idx].sum()),
                "partial_sum_packets_per_timestep": float(sum(pl.traffic.part_rates[i] for i in psum)),
            }
        )
    return out


def _fmt(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.3g}"


def render_markdown(report: dict) -> str:
    """Human summary of a report dict (formatting only; every number comes from the dict)."""
    pl, tot, chip = report["placement"], report["totals"], report["chip"]
    net = report["network"]
    out = [
        f"# Mapping of {net['name'] or 'network'} onto {chip['name']}",
        "",
        f"Network {' - '.join(map(str, net['sizes']))} ({net['readout']} readout), "
        f"chip {chip['mesh_rows']}x{chip['mesh_cols']} cores of {chip['core']['axons']} axons x "
        f"{chip['core']['neurons']} neurons, w_bits {chip['core']['w_bits']}.",
        "",
        f"- Cores used: {tot['cores_used']} / {tot['cores_total']}; "
        f"neurons {tot['neurons']} / {tot['neurons_capacity']}",
        f"- Synapse memory: {tot['synapse_bits'] / 8192:,.1f} KiB used of "
        f"{tot['synapse_bits_capacity'] / 8192:,.1f} KiB; "
        f"nonzero synapses {tot['nonzero_synapses']:,} of {tot['synapses_stored']:,} stored "
        f"({tot['nonzero_percent_of_stored']:.1f} %)",
        f"- Placement `{pl['method']}` (seed {pl['seed']}): **{_fmt(pl['cost_packet_hops_per_timestep'])}** "
        f"packet-hops per timestep; row-major {_fmt(pl['cost_row_major_packet_hops_per_timestep'])} "
        f"({pl['improvement_vs_row_major_percent']:.1f} % less)",
        f"- Rates: {pl['rates_source']}",
        f"- Host port at core 0: {_fmt(report['host']['packets_per_timestep'])} input packets per timestep",
        f"- Design rules passed: {', '.join(report['design_rules_checked'])}",
        "",
        "## Layers",
        "",
        "| # | layer | in | out | threshold | leak_shift | integration | reset | fire | cores | nonzero synapses |",
        "|---|---|---:|---:|---:|---:|---|---|---|---|---:|",
    ]
    for L in net["layers"]:
        out.append(
            f"| {L['index']} | {L['name']} | {L['n_in']} | {L['n_out']} | {L['threshold']} | {L['leak_shift']} | "
            f"{L['integration']} | {L['reset']} | {'yes' if L['fire'] else 'no (membrane)'} | "
            f"{', '.join(map(str, L['cores']))} | {L['nonzero_percent_of_stored']:.1f} % |"
        )
    out += [
        "",
        "## Cores",
        "",
        "| core | (row, col) | stage | part | neurons | axons | synapse memory | nonzero of stored | "
        "spikes / timestep | routes |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report["cores"]:
        out.append(
            f"| {c['core']} | ({c['row']}, {c['col']}) | {c['stage']} | {c['label']} | "
            f"{c['neurons']}/{c['neurons_capacity']} ({c['neuron_util_percent']:.0f} %) | "
            f"{c['axons']}/{c['axons_capacity']} ({c['axon_util_percent']:.0f} %) | "
            f"{c['synapse_util_percent']:.0f} % | {c['nonzero_percent_of_stored']:.1f} % | "
            f"{_fmt(c['expected_spikes_per_timestep'])} | {c['routes'] or 'output'} |"
        )
    out += ["", "## Link traffic (XY routes, packets per timestep)", "", "| link | packets / timestep |", "|---|---:|"]
    for L in sorted(report["links"], key=lambda x: -x["packets_per_timestep"]):
        out.append(
            f"| {L['src']} {tuple(L['src_rc'])} -> {L['dst']} {tuple(L['dst_rc'])} | "
            f"{_fmt(L['packets_per_timestep'])} |"
        )
    if not report["links"]:
        out.append("| (none: every flow stays inside one router) | 0 |")
    if "tiling" in report:
        out += [
            "",
            "## Tiles, receptive fields and partial sums",
            "",
            "Axons idle: axons of the layer's cores that hold no input. Packets in: expected packets per "
            "timestep into the layer's cores (spikes routed to every core whose receptive field holds them, "
            "and partial sums).",
            "",
            "| # | layer | shape | routing | tile (c x h x w) | parts | cores (partial-sum) | axons used | "
            "axons idle | weight words (nonzero) | packets in / timestep |",
            "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for L in report["tiling"]:
            shape = "x".join(map(str, L["shape"])) if L["shape"] else "flat"
            tile = "x".join(map(str, L["tile"])) if L["tile"] else "-"
            out.append(
                f"| {L['index']} | {L['name']} | {shape} | {L['routing'].replace('_', ' ')} | {tile} | {L['parts']} | "
                f"{L['cores']} ({L['partial_sum_cores']}) | {L['axons_used']:,} | {L['axons_idle']:,} | "
                f"{L['weight_words_stored']:,} ({L['nonzero_weights_stored']:,}) | "
                f"{_fmt(L['packets_in_per_timestep'])} |"
            )
    if "nir_import" in report:
        out += [
            "",
            f"## NIR import (dt = {report['network'].get('dt_s')} s)",
            "",
            "| layer | neuron node | scale (chip units per NIR unit) | decay requested | decay on chip |",
            "|---|---|---:|---:|---:|",
        ]
        for i in report["nir_import"]:
            out.append(
                f"| {i['layer']} | {i['neuron_node'] or '(none: membrane readout)'} ({i['neuron_type'] or '-'}) | "
                f"{i['scale']:.4g} | {i['decay_nir']:.4g} | {i['decay_chip']:.4g} |"
            )
    return "\n".join(out) + "\n"


# Link traffic numbers in mesh.png: 8 pt is 14 px at the figure's 130 dpi, as large as the core labels and
# still inside the gap between two cores for two directions side by side.
LINK_LABEL_FONTSIZE = 8


def plot_mesh(report: dict, path: str | Path | None = None) -> bytes:
    """Draw the mesh: cores coloured by layer with labels, link traffic as arrow width and colour.

    Returns the PNG bytes; also writes them atomically to ``path`` when given.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    chip = report["chip"]
    rows, cols = chip["mesh_rows"], chip["mesh_cols"]
    layers = report["network"]["layers"]
    cmap_layers = plt.get_cmap("tab10" if len(layers) <= 10 else "tab20")
    cell = 2.3
    fig, ax = plt.subplots(figsize=(1.0 + cell * cols + 1.6, 1.2 + cell * rows))
    box = 0.62  # core box side, in cells; links run in the gaps
    by_core = {c["core"]: c for c in report["cores"]}
    for core in range(rows * cols):
        r, c = divmod(core, cols)
        x0, y0 = c - box / 2, -r - box / 2
        info = by_core.get(core)
        face = cmap_layers(info["layer"] % cmap_layers.N) if info else (0.93, 0.93, 0.93)
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                box,
                box,
                boxstyle="round,pad=0.02,rounding_size=0.05",
                facecolor=face,
                edgecolor="0.3" if info else "0.7",
                linestyle="-" if info else "--",
                alpha=0.9 if info else 1.0,
                zorder=2,
            )
        )
        ax.text(
            c - box / 2 + 0.03,
            -r + box / 2 - 0.03,
            f"core {core}",
            ha="left",
            va="top",
            fontsize=7,
            color="0.15",
            zorder=3,
        )
        if info:
            ax.text(
                c, -r + 0.03, info["label"], ha="center", va="center", fontsize=8, weight="bold", zorder=3, wrap=True
            )
            ax.text(
                c,
                -r - 0.17,
                f"n {info['neurons']}/{info['neurons_capacity']}  a {info['axons']}/"
                f"{info['axons_capacity']}\nsyn {info['nonzero_percent_of_stored']:.0f}% nonzero",
                ha="center",
                va="center",
                fontsize=6.5,
                zorder=3,
            )
        else:
            ax.text(c, -r, "idle", ha="center", va="center", fontsize=8, color="0.5", zorder=3)
    loads = [L["packets_per_timestep"] for L in report["links"]] + [report["host"]["packets_per_timestep"]]
    vmax = max(loads) if loads and max(loads) > 0 else 1.0
    cmap = plt.get_cmap("plasma")
    norm = matplotlib.colors.Normalize(vmin=0, vmax=vmax)
    for L in report["links"]:
        (r0, c0), (r1, c1) = L["src_rc"], L["dst_rc"]
        v = L["packets_per_timestep"]
        dx, dy = c1 - c0, -(r1 - r0)
        off = 0.09  # two directions of one link side by side
        ox, oy = -dy * off, dx * off
        start = (c0 + dx * box / 2 + ox, -r0 + dy * box / 2 + oy)
        end = (c1 - dx * box / 2 + ox, -r1 - dy * box / 2 + oy)
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=8 + 6 * v / vmax,
                linewidth=0.8 + 5.5 * v / vmax,
                color=cmap(norm(v) * 0.85),
                zorder=1,
            )
        )
        if len(report["links"]) <= 60:  # numbers stay legible on meshes up to ~6x6
            mx, my = (start[0] + end[0]) / 2 + 1.6 * ox, (start[1] + end[1]) / 2 + 1.6 * oy
            ax.text(
                mx,
                my,
                _fmt(v),
                fontsize=LINK_LABEL_FONTSIZE,
                ha="center",
                va="center",
                color="0.1",
                zorder=3,
                rotation=90 if dx == 0 else 0,
                # a light box keeps the number legible where it crosses the arrow of the other direction
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            )
    host = report["host"]["packets_per_timestep"]
    ax.add_patch(
        FancyArrowPatch(
            (-0.5 - 0.45, 0.0),
            (-box / 2, 0.0),
            arrowstyle="-|>",
            mutation_scale=14,
            linewidth=0.8 + 5.5 * host / vmax,
            color=cmap(norm(host) * 0.85),
            zorder=1,
        )
    )
    ax.text(-0.5 - 0.47, 0.12, f"host\n{_fmt(host)}/ts", ha="left", va="bottom", fontsize=7)
    sm = matplotlib.cm.ScalarMappable(cmap=matplotlib.colors.ListedColormap(cmap(np.linspace(0, 0.85, 256))), norm=norm)
    cb = fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.02, shrink=0.8)
    cb.set_label("expected packets per timestep on link")
    handles = [
        matplotlib.patches.Patch(
            facecolor=cmap_layers(L["index"] % cmap_layers.N),
            edgecolor="0.3",
            label=f"{L['index']}: {L['name']} ({L['n_out']})",
        )
        for L in layers
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=min(len(handles), 5),
        fontsize=7,
        frameon=False,
        title="layer (neurons)",
        title_fontsize=7,
    )
    pl = report["placement"]
    ax.set_title(
        f"{report['network']['name'] or 'network'} on {chip['name']} ({rows}x{cols}), placement {pl['method']}\n"
        f"cost {_fmt(pl['cost_packet_hops_per_timestep'])} packet-hops/timestep, row-major "
        f"{_fmt(pl['cost_row_major_packet_hops_per_timestep'])} ({pl['improvement_vs_row_major_percent']:.1f}% less)",
        fontsize=9,
    )
    ax.set_xlim(-1.0, cols - 0.5)
    ax.set_ylim(-rows + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    data = figure_png(fig, path, dpi=130)
    plt.close(fig)
    return data


def write_outputs(mapped: MappedNetwork, outdir: str | Path, *, figure: bool = True) -> dict[str, Path]:
    """Write ``program.npz``, ``mapping.json``, ``mapping.md`` and ``mesh.png`` (each atomically) into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report = build_report(mapped)
    paths = {k: outdir / v for k, v in OUTPUT_FILES.items()}
    mapped.program.save(paths["program"])
    atomic_write_bytes(paths["json"], (json.dumps(report, indent=1) + "\n").encode())
    atomic_write_bytes(paths["markdown"], render_markdown(report).encode())
    if figure:
        plot_mesh(report, paths["figure"])
    else:
        del paths["figure"]
    return paths
