"""The network-on-chip part of a report on a ``noc = "mesh"`` chip (chip-spec §1.5, docs/noc.md).

:func:`noc_summary` computes, from a run's ``noc_counters`` and ``link_counters``, the routing cycles and stall
cycles per image, and per link (a router output port) its packets, utilisation and stall cycles, and names the
busiest link; :func:`noc_lines` renders them as text and :func:`noc_heatmap` draws the mesh. Under
``noc = "ideal"`` there are no links to report: :func:`noc_summary` returns None and reports stay what they were.

**Utilisation** of a link = packets it carried / routing cycles of the run (the sum of every routing phase's
length, ``HOST`` included, over all images and timesteps run). A link carries at most one packet per cycle
(§1.5), so it lies in 0..1: the share of the routing cycles in which the link was busy. Local outputs (port 0,
deliveries into a core) are links in this sense too. The busiest link is the one with the most packets (ties:
most stall cycles, then lowest router and port).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.golden.noc import PORT_NAMES, STEP  # chip-spec §1.5 port numbers 0..4 and their (row, col) steps
from hwsim.result import LINK_COUNTER_NAMES, NOC_COUNTER_NAMES, RunResult
from hwsim.writers import figure_png

__all__ = ["NOC_FIGURE", "PORT_NAMES", "noc_summary", "noc_summary_of_sums", "noc_lines", "noc_csv_rows",
           "noc_heatmap", "link_record", "placement_noc_estimate"]

NOC_FIGURE = "noc_heatmap.png"  # only for a noc = "mesh" chip


def _neighbour(rows: int, cols: int, router: int, port: int) -> int | None:
    """The core output ``port`` of ``router`` leads to (itself for the local output), None off the mesh edge."""
    r, c = divmod(router, cols)
    dr, dc = STEP[port]
    r, c = r + dr, c + dc
    return r * cols + c if 0 <= r < rows and 0 <= c < cols else None


def link_record(router: int, port: int, packets: int, stalls: int, route_cycles: int, n_images: int,
                timesteps_run: int, cols: int, rows: int) -> dict:
    """One link's numbers, JSON-ready (see the module docstring for utilisation)."""
    return {
        "router": int(router),
        "position": list(divmod(int(router), cols)),
        "port": PORT_NAMES[port],
        "to_core": _neighbour(rows, cols, router, port),
        "packets_per_image": packets / n_images,
        "packets_per_timestep": packets / timesteps_run if timesteps_run else 0.0,
        "utilisation": packets / route_cycles if route_cycles else 0.0,
        "stall_cycles_per_image": stalls / n_images,
    }


def noc_summary(result: RunResult, chip) -> dict | None:
    """The ``report.json`` keys of the mesh network-on-chip, or None under ``noc = "ideal"``."""
    return noc_summary_of_sums(result.noc_counters.sum(axis=(0, 1), dtype=np.int64), result.link_counters,
                               result.batch_size, int(np.sum(result.exit_timesteps)), chip)


def noc_summary_of_sums(noc_sums: np.ndarray, link_counters: np.ndarray | None, n_images: int, timesteps_run: int,
                        chip) -> dict | None:  # fmt: skip
    """:func:`noc_summary` from a run's sums: ``noc_sums`` (its ``noc_counters`` summed over images and timesteps),
    its ``link_counters``, its image count and the timesteps its images ran in all (``B * T`` without an exit
    rule); what a streamed report keeps of a run (:class:`hwsim.report.summary.RunSummary`)."""
    if getattr(chip, "noc", "ideal") != "mesh" or link_counters is None:
        return None
    noc = np.asarray(noc_sums, np.int64)
    B = n_images
    route_cycles = int(noc[NOC_COUNTER_NAMES.index("route_cycles")])
    links = link_counters.astype(np.int64)
    packets = links[..., LINK_COUNTER_NAMES.index("packets")]
    stalls = links[..., LINK_COUNTER_NAMES.index("stall_cycles")]
    rows, cols = chip.mesh_rows, chip.mesh_cols
    records = [link_record(r, d, int(packets[r, d]), int(stalls[r, d]), route_cycles, B, timesteps_run, cols, rows)
               for r in range(packets.shape[0]) for d in range(5) if packets[r, d] or stalls[r, d]]
    busiest = None
    if records:
        r, d = min(((r, d) for r in range(packets.shape[0]) for d in range(5)),
                   key=lambda rd: (-packets[rd], -stalls[rd], rd[0], rd[1]))
        busiest = link_record(r, d, int(packets[r, d]), int(stalls[r, d]), route_cycles, B, timesteps_run, cols,
                              rows)
    return {
        "noc": "mesh",
        "router_buffer_flits": int(chip.router_buffer_flits),
        "mesh_shape": [rows, cols],
        "noc_route_cycles_per_image": route_cycles / B,
        "noc_stall_cycles_per_image": float(noc[NOC_COUNTER_NAMES.index("stall_cycles")]) / B,
        "noc_buffer_writes_per_image": float(noc[NOC_COUNTER_NAMES.index("buffer_writes")]) / B,
        "busiest_link": busiest,
        "noc_links": records,
    }


def placement_noc_estimate(placement, chip) -> dict:
    """``hwsim map``'s mesh numbers, estimated from the mapping's traffic model (no simulation): per routing phase
    the expected packets per timestep on every link along the XY routes (:func:`mapping.placement.mesh_link_loads`,
    with the rates the placement used), the phase's cycles estimated as
    ``max(busiest link, most packets one sender injects) + hop_latency_cycles * longest route`` (a link carries one
    packet per cycle; the last packet still has its hops to go), their sum per timestep, and each link's utilisation
    = its packets / those cycles. Stall cycles need the cycle-by-cycle model (``hwsim run``): 0 here."""
    from mapping.placement import hop_matrix, injection_floor, mesh_flows, mesh_link_loads

    cores, parts, t = placement.cores, placement.parts, placement.traffic
    flows = mesh_flows(parts, t)
    floor = injection_floor(flows)
    loads = mesh_link_loads(cores, parts, t, chip)
    h = hop_matrix(chip)
    longest: dict[int, int] = {}
    for src, dst, _, phase in flows:
        a = 0 if src < 0 else cores[src]
        longest[phase] = max(longest.get(phase, 0), int(h[a, cores[dst]]))
    phases = {ph: max(floor.get(ph, 0.0), float(load.max())) + chip.hop_latency_cycles * longest.get(ph, 0)
              for ph, load in sorted(loads.items())}
    cycles = sum(phases.values())
    total = sum(loads.values()) if loads else np.zeros(chip.n_cores * 5)
    rows, cols = chip.mesh_rows, chip.mesh_cols
    records = []
    for k in np.flatnonzero(total > 0):
        r, d = divmod(int(k), 5)
        rec = link_record(r, d, 0, 0, 1, 1, 1, cols, rows)
        rec.update(packets_per_image=None, packets_per_timestep=float(total[k]),
                   utilisation=float(total[k]) / cycles if cycles else 0.0, stall_cycles_per_image=0.0)
        records.append(rec)
    busiest = max(records, key=lambda rec: (rec["packets_per_timestep"], -rec["router"]), default=None)
    return {
        "noc": "mesh",
        "router_buffer_flits": int(chip.router_buffer_flits),
        "mesh_shape": [rows, cols],
        "estimate": "from the mapping's traffic model (expected packets per timestep at the placement's rates), "
                    "no simulation; stall cycles are not estimated",
        "noc_route_cycles_per_timestep_estimate": cycles,
        "noc_phase_cycles_estimate": {("host" if ph < 0 else f"stage{ph}"): v for ph, v in phases.items()},
        "busiest_link": busiest,
        "noc_links": records,
    }


def _link_text(link: dict) -> str:
    where = f"router {link['router']} ({link['position'][0]},{link['position'][1]}) {link['port']}"
    if link["port"] != "local":
        where += f" -> core {link['to_core']}"
    return (f"{where}: {link['packets_per_timestep']:.4g} packets/timestep, "
            f"utilisation {100 * link['utilisation']:.1f} % of routing cycles, "
            f"{link['stall_cycles_per_image']:.4g} stall cycles/image")


def noc_lines(data: dict) -> list[tuple[str, str]]:
    """``(metric, value)`` rows of the text report for a mesh chip; none under ``noc = "ideal"``."""
    if data.get("noc") != "mesh":
        return []
    s = data["summary"]
    rows = [("network-on-chip", f"mesh (XY routers, {data['router_buffer_flits']}-packet buffers): "
                                f"{data['noc_route_cycles_per_image']:.4g} routing cycles/image of "
                                f"{s['latency_cycles_per_image']:.0f}, {data['noc_stall_cycles_per_image']:.4g} "
                                f"stall cycles/image")]
    if data.get("busiest_link"):
        rows.append(("busiest link", _link_text(data["busiest_link"])))
    return rows


def noc_csv_rows(data: dict) -> list[tuple[str, str, object, str]]:
    """``report.csv`` rows of a mesh chip: the per-image NoC numbers (section ``summary``) and every link with
    packets (section ``noc_link``, key ``ROUTER:PORT:quantity``); none under ``noc = "ideal"``."""
    if data.get("noc") != "mesh":
        return []
    rows = [("summary", k, data[k], "cycles") for k in ("noc_route_cycles_per_image", "noc_stall_cycles_per_image")]
    rows.append(("summary", "noc_buffer_writes_per_image", data["noc_buffer_writes_per_image"], "packets"))
    for lk in data["noc_links"]:
        key = f"{lk['router']}:{lk['port']}"
        rows += [("noc_link", f"{key}:packets_per_timestep", lk["packets_per_timestep"], "packets"),
                 ("noc_link", f"{key}:utilisation", lk["utilisation"], "fraction"),
                 ("noc_link", f"{key}:stall_cycles_per_image", lk["stall_cycles_per_image"], "cycles")]
    return rows


def noc_heatmap(data: dict, rows: int, cols: int, path: str | Path, title: str | None = None) -> bytes:
    """Draw the mesh: routers as a grid, every link with packets as an arrow coloured by utilisation, its stall
    cycles per image written beside it (meshes up to 8 x 8) and as the arrow's width; a router's face colour is
    its local output's (deliveries) utilisation. Reads numbers, computes none; written atomically."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    links = data.get("noc_links", [])
    top = max([lk["utilisation"] for lk in links] + [1e-9])
    norm = Normalize(0.0, top)
    cmap = colormaps["magma_r"]
    stall_top = max([lk["stall_cycles_per_image"] for lk in links] + [1e-9])
    size = max(4.0, min(12.0, 1.1 * max(rows, cols) + 2))
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    local = {lk["router"]: lk for lk in links if lk["port"] == "local"}
    for r in range(rows * cols):
        y, x = divmod(r, cols)
        util = local[r]["utilisation"] if r in local else 0.0
        ax.add_patch(_square(x, y, cmap(norm(util)) if r in local else "white"))
        if rows * cols <= 256:
            ax.text(x, y, str(r), ha="center", va="center", fontsize=7,
                    color="white" if norm(util) > 0.6 else "black")
    for lk in links:
        if lk["port"] == "local":
            continue
        y0, x0 = lk["position"]
        dy, dx = STEP[PORT_NAMES.index(lk["port"])]
        # start beside the router, shifted across the link's direction so that the two directions between a
        # pair of neighbours run side by side
        sx, sy = x0 + 0.25 * dx - 0.1 * dy, y0 + 0.25 * dy + 0.1 * dx
        width = 1.0 + 4.0 * lk["stall_cycles_per_image"] / stall_top
        ax.annotate("", xy=(sx + 0.5 * dx, sy + 0.5 * dy), xytext=(sx, sy),
                    arrowprops={"arrowstyle": "-|>", "color": cmap(norm(lk["utilisation"])), "lw": width})
        if lk["stall_cycles_per_image"] > 0 and rows * cols <= 64:
            ax.text(sx + 0.25 * dx - 0.12 * dy, sy + 0.25 * dy + 0.12 * dx, _count(lk["stall_cycles_per_image"]),
                    fontsize=6,
                    color="tab:blue", ha="center", va="center")
    ax.set_xlim(-0.6, cols - 0.4)
    ax.set_ylim(rows - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel("column (east ->)")
    ax.set_ylabel("row (south ->)")
    busiest = data.get("busiest_link")
    if title is None:
        title = (f"mesh links on {data.get('chip', '')}: {data['noc_route_cycles_per_image']:.4g} routing "
                 f"cycles/image")
    if busiest:
        title += f"\nbusiest: router {busiest['router']} {busiest['port']}, {100 * busiest['utilisation']:.1f} %"
    if any(lk["stall_cycles_per_image"] > 0 for lk in links):
        title += "\narrow width and blue numbers: stall cycles per image"
    ax.set_title(title, fontsize=9)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.8,
                 label="utilisation (packets / routing cycles); routers: deliveries")
    return figure_png(fig, path, dpi=110)


def _count(value: float) -> str:
    """A stall count for the figure: whole numbers from 10 up (no exponent), two digits below."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _square(x: float, y: float, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.22, y - 0.22), 0.44, 0.44, facecolor=colour, edgecolor="gray", lw=0.8)
