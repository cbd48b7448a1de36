"""Chip area from the RTL: Yosys gate counts per block plus memory bits, converted to µm² by an area table.

Three synthesis runs per chip (each cached by :mod:`hwsim.area.synth`), never the flattened chip:

* ``snn_core`` with the chip's core parameters and ``IN_PORTS = n_cores + 1`` (as ``rtl/snn_chip.v``
  instantiates it), memories as black boxes. Its hierarchy gives the per-core blocks: controller
  (``snn_ctrl``), spike scan (``snn_spike_scan`` with its priority encoder), lane accumulators
  (``snn_lane_acc``), neuron update (``snn_neuron_update``), the partial-sum merge adder and the
  core's own glue (configuration registers, SRAM address, lane enables).
* ``snn_chip`` with ``snn_core`` and ``snn_exit_unit`` as black boxes: one router per core
  (``snn_router``), the host port (its buffer and router), the chip controller and the chip's glue
  (per-core spike registers and counters, packet delivery, output map, readout multiplexers).
* ``snn_exit_unit`` (early exit, chip-spec §1.4), which depends on ``v_bits`` only.

Memories are counted in bits from the config: the weight SRAM (``axons x neurons x w_bits``), the
membrane and bias register files (``neurons x v_bits`` each) and, with partial sums, the partial-sum
buffer (``neurons x v_bits``). The synthesised netlist must instantiate exactly those memories, or
the RTL and this model disagree and :class:`~hwsim.area.synth.SynthesisError` says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hwsim.area.synth import ModuleGates, SynthesisError, rtl_digest, synthesize, yosys_version
from hwsim.area.table import TABLE_DIR, AreaTable, load_area_table
from hwsim.config import ChipConfig

__all__ = ["Block", "AreaReport", "chip_area", "core_hdl_params", "chip_hdl_params", "exit_hdl_params", "block_areas",
           "memory_blocks", "BLOCK_LABELS", "report_from_record", "stored_record", "run_area_mm2", "run_area",
           "area_breakdown", "STORED_DIR", "check_synthesisable", "stored_problems", "regenerate_stored",
           "REGENERATE_COMMAND"]

# Module -> block label when the module sits directly under the synthesised top (deeper modules
# belong to their parent's block: the host port's router is the host port's).
BLOCK_LABELS = {
    "snn_core": "core glue",
    "snn_ctrl": "controller",
    "snn_spike_scan": "spike scan",
    "snn_lane_acc": "lane accumulators",
    "snn_neuron_update": "neuron update",
    "snn_chip": "chip glue",
    "snn_router": "router",
    "snn_mesh_router": "router",  # noc = "mesh" (chip-spec §1.5): the mesh router is the core's router
    "snn_host_port": "host port",
    "snn_chip_ctrl": "chip controller",
    "snn_exit_unit": "exit unit",
}
MERGE_LABEL = "partial-sum merge"
# Larger meshes are refused unless asked for (docs/area.md, Limits): default_28nm has 9 cores, 3 x 3.
DEFAULT_MAX_CORES = 16
# Synthesis results of the presets (area.json of 'hwsim area'), for 'hwsim run' without Yosys.
STORED_DIR = Path(__file__).parent / "stored"
# snn_chip's MAX_OUTPUTS (its default in rtl/snn_chip.v; hwsim never overrides it): the exit unit's outputs.
EXIT_MAX_OUTPUTS = 64


@dataclass(frozen=True)
class Block:
    """One block of the area report.

    Attributes:
        name: Block label (``"neuron update"``, ``"weight SRAM"``, ...).
        scope: ``"core"`` (one core; the chip has ``n_cores`` of them) or ``"chip"`` (whole chip).
        kind: ``"logic"`` (synthesised gates), ``"sram"`` or ``"register file"`` (counted in bits).
        nand2: NAND2-equivalent gates (logic, and register files at the table's GE per bit).
        bits: Storage bits (memories; 0 for logic).
        flip_flops: Flip-flops in the synthesised logic (0 for memories).
        um2: Area in µm² (all instances of the block in its scope).
        instances: Instances of the block in its scope (the routers: one per core at chip scope).
        cells: Yosys cell counts of a logic block (what ``nand2`` is computed from); empty for memories.
    """

    name: str
    scope: str
    kind: str
    nand2: float
    bits: int
    flip_flops: int
    um2: float
    cells: dict[str, int] = field(default_factory=dict)
    instances: int = 1

    def to_dict(self) -> dict:
        return {"name": self.name, "scope": self.scope, "kind": self.kind, "nand2": round(self.nand2, 1),
                "bits": self.bits, "flip_flops": self.flip_flops, "um2": round(self.um2, 1),
                "instances": self.instances, "cells": dict(sorted(self.cells.items()))}


@dataclass(frozen=True)
class AreaReport:
    """Area of one chip config: blocks per core and per chip, and the totals."""

    chip: str
    table: str
    n_cores: int
    blocks: list[Block] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    @property
    def core_um2(self) -> float:
        return sum(b.um2 for b in self.blocks if b.scope == "core")

    @property
    def chip_level_um2(self) -> float:
        return sum(b.um2 for b in self.blocks if b.scope == "chip")

    @property
    def chip_um2(self) -> float:
        return self.n_cores * self.core_um2 + self.chip_level_um2

    @property
    def chip_mm2(self) -> float:
        return self.chip_um2 / 1e6

    def to_dict(self) -> dict:
        return {
            "chip": self.chip, "area_table": self.table, "n_cores": self.n_cores,
            "core_um2": round(self.core_um2, 1), "core_mm2": round(self.core_um2 / 1e6, 6),
            "chip_level_um2": round(self.chip_level_um2, 1),
            "chip_um2": round(self.chip_um2, 1), "chip_mm2": round(self.chip_mm2, 6),
            "blocks": [b.to_dict() for b in self.blocks],
            "provenance": dict(self.provenance),
        }


def core_hdl_params(chip: ChipConfig) -> dict[str, int]:
    """``snn_core``'s parameters inside ``snn_chip``: the core config's, and one input port per sender."""
    params = dict(chip.core.to_hdl_params())
    params["IN_PORTS"] = chip.n_cores + 1
    return params


def chip_hdl_params(chip: ChipConfig) -> dict[str, int]:
    """``snn_chip``'s parameters (as tests/rtl/harness/build.py's ``hdl_parameters``).

    A mesh network-on-chip (``noc = "mesh"``, chip-spec §1.5) adds ``NOC_MESH = 1`` and ``BUFFER_FLITS``;
    the ideal network keeps the RTL's defaults, so its parameter sets (and stored results) stay as they were.
    """
    params = dict(chip.core.to_hdl_params())
    params["MESH_ROWS"] = chip.mesh_rows
    params["MESH_COLS"] = chip.mesh_cols
    if getattr(chip, "noc", "ideal") == "mesh":
        params["NOC_MESH"] = 1
        params["BUFFER_FLITS"] = chip.router_buffer_flits
    return params


def exit_hdl_params(chip: ChipConfig) -> dict[str, int]:
    """``snn_exit_unit``'s parameters inside ``snn_chip``: the membrane width and snn_chip's default output count."""
    return {"V_BITS": chip.core.v_bits, "MAX_OUTPUTS": EXIT_MAX_OUTPUTS}


def _instances(modules: list[ModuleGates], top: str) -> tuple[dict[str, dict[str, float]], dict[str, int],
                                                                dict[str, int]]:
    """Cell counts per block label, black-box instance counts, and instances per block label, summed over the
    hierarchy under ``top``."""
    by_name = {m.name: m for m in modules}
    if top not in by_name:
        raise SynthesisError(f"Yosys' netlist has no top module {top!r} (modules: {', '.join(sorted(by_name))})")
    cells: dict[str, dict[str, float]] = {}
    boxes: dict[str, int] = {}
    roots: dict[str, int] = {}

    def walk(name: str, label: str, mult: int, depth: int) -> None:
        module = by_name[name]
        bucket = cells.setdefault(label, {})
        for cell, count in module.cells.items():
            bucket[cell] = bucket.get(cell, 0) + mult * count
        for child, count in module.children.items():
            if child not in by_name:
                base = child.rsplit("\\", 1)[-1]
                boxes[base] = boxes.get(base, 0) + mult * count
                continue
            child_label = label
            if depth == 0:
                child_module = by_name[child]
                child_label = BLOCK_LABELS.get(child_module.base, child_module.base)
                if child_module.base == "snn_lane_acc" and child_module.params.get("W_BITS") == \
                        child_module.params.get("V_BITS"):
                    child_label = MERGE_LABEL  # the MERGE adder adds V_BITS-wide partial sums (w_bits < v_bits)
                roots[child_label] = roots.get(child_label, 0) + count
            walk(child, child_label, mult * count, depth + 1)

    top_base = by_name[top].base
    roots[BLOCK_LABELS.get(top_base, top_base)] = 1
    walk(top, BLOCK_LABELS.get(top_base, top_base), 1, 0)
    return cells, boxes, roots


def block_areas(modules: list[ModuleGates], top: str, scope: str, table: AreaTable) -> tuple[list[Block], dict]:
    """Logic blocks of one synthesised top (``scope`` ``"core"`` or ``"chip"``) and its black-box counts."""
    cells, boxes, roots = _instances(modules, top)
    blocks = []
    for label, counts in cells.items():
        ge = table.logic_ge(counts)
        flops = int(sum(n for c, n in counts.items() if c.startswith("$_DFF")))
        blocks.append(Block(name=label, scope=scope, kind="logic", nand2=ge, bits=0, flip_flops=flops,
                            um2=table.logic_um2(ge), cells={c: int(n) for c, n in counts.items()},
                            instances=roots.get(label, 1)))
    return blocks, boxes


def memory_blocks(chip: ChipConfig, table: AreaTable) -> list[Block]:
    """The core's memories, in bits from the config (chip-spec §2.1)."""
    core = chip.core
    sram_bits = core.axons * core.neurons * core.w_bits
    rf_bits = core.neurons * core.v_bits
    blocks = [
        Block("weight SRAM", "core", "sram", 0.0, sram_bits, 0, table.sram_um2(sram_bits)),
        Block("membrane register file", "core", "register file", rf_bits * table.rf_bit_ge, rf_bits, 0,
              table.rf_um2(rf_bits)),
        Block("bias register file", "core", "register file", rf_bits * table.rf_bit_ge, rf_bits, 0,
              table.rf_um2(rf_bits)),
    ]
    if core.partial_sums:
        blocks.append(Block("partial-sum buffer", "core", "register file", rf_bits * table.rf_bit_ge, rf_bits, 0,
                            table.rf_um2(rf_bits)))
    return blocks


def _expect_boxes(boxes: dict[str, int], expected: dict[str, int], where: str) -> None:
    if boxes != expected:
        raise SynthesisError(
            f"{where}: the RTL instantiates black boxes {boxes}, the area model expects {expected}: "
            "rtl/ and hwsim/area/model.py disagree on the memories"
        )


def check_synthesisable(chip: ChipConfig, max_cores: int = DEFAULT_MAX_CORES) -> None:
    """:class:`SynthesisError` unless ``chip`` is a digital chip of at most ``max_cores`` cores."""
    if chip.core_type != "digital":
        raise SynthesisError(f"{chip.name}: core_type = {chip.core_type!r}; area synthesis covers the digital core "
                             "only (rtl/ has no RRAM crossbar core)")
    if chip.n_cores > max_cores:
        raise SynthesisError(
            f"{chip.name}: {chip.n_cores} cores, more than the {max_cores} synthesised by default: the RTL's "
            f"contention-free NoC gives every core n_cores + 1 = {chip.n_cores + 1} input ports and the chip "
            "n_cores^2 destination decoders, so synthesis takes hours and the area means little (docs/area.md, "
            "Limits); allow it with --max-cores"
        )


def chip_area(chip: ChipConfig, table: AreaTable, *, use_cache: bool = True,
              cache_only: bool = False, max_cores: int = DEFAULT_MAX_CORES) -> AreaReport | None:
    """Synthesise ``chip``'s core, chip level and exit unit (cached) and convert to µm² with ``table``.

    With ``cache_only``, nothing is synthesised: None unless all three runs are cached.

    Raises:
        SynthesisError: Yosys is missing or fails, the config is not a digital chip, or it has more than
            ``max_cores`` cores.
    """
    check_synthesisable(chip, max_cores)
    runs = {
        "core": ("snn_core", core_hdl_params(chip), ()),
        "chip": ("snn_chip", chip_hdl_params(chip), ("snn_core", "snn_exit_unit")),
        # The exit unit depends on v_bits only: its own run is shared by every chip of that width.
        "exit": ("snn_exit_unit", exit_hdl_params(chip), ()),
    }
    netlists = {}
    for key, (top, params, boxes) in runs.items():
        netlists[key] = synthesize(top, params, black_boxes=boxes, use_cache=use_cache, cache_only=cache_only)
        if netlists[key] is None:
            return None
    core_blocks, core_boxes = block_areas(netlists["core"], "snn_core", "core", table)
    expected = {"snn_weight_sram": 1, "snn_group_rf": 2}
    if chip.core.partial_sums:
        expected["snn_psum_buf"] = 1
    _expect_boxes(core_boxes, expected, "snn_core")
    chip_blocks, chip_boxes = block_areas(netlists["chip"], "snn_chip", "chip", table)
    _expect_boxes(chip_boxes, {"snn_core": chip.n_cores, "snn_exit_unit": 1}, "snn_chip")
    exit_blocks, exit_boxes = block_areas(netlists["exit"], "snn_exit_unit", "chip", table)
    _expect_boxes(exit_boxes, {}, "snn_exit_unit")
    logic = sorted(core_blocks + chip_blocks + exit_blocks, key=lambda b: (_block_rank(b.name), b.name))
    provenance = {"rtl_sha256": rtl_digest(), "yosys": yosys_version(),
                  "hdl_params": {key: params for key, (_, params, _) in runs.items()}}
    return AreaReport(chip=chip.name, table=table.name, n_cores=chip.n_cores,
                      blocks=memory_blocks(chip, table) + logic, provenance=provenance)


_ORDER = ["controller", "spike scan", "lane accumulators", MERGE_LABEL, "neuron update", "core glue",
          "router", "host port", "chip controller", "exit unit", "chip glue"]


def _block_rank(name: str) -> int:
    return _ORDER.index(name) if name in _ORDER else len(_ORDER)


def report_from_record(record: dict, chip: ChipConfig, table: AreaTable) -> AreaReport:
    """An :class:`AreaReport` from a stored ``area.json`` (its cell counts and bits), priced with ``table``."""
    blocks = []
    for b in record["blocks"]:
        if b["kind"] == "logic":
            ge = table.logic_ge(b["cells"])
            um2 = table.logic_um2(ge)
        elif b["kind"] == "sram":
            ge, um2 = 0.0, table.sram_um2(b["bits"])
        else:
            ge, um2 = b["bits"] * table.rf_bit_ge, table.rf_um2(b["bits"])
        blocks.append(Block(b["name"], b["scope"], b["kind"], ge, b["bits"], b["flip_flops"], um2, dict(b["cells"]),
                            b.get("instances", 1)))
    return AreaReport(chip=chip.name, table=table.name, n_cores=chip.n_cores, blocks=blocks,
                      provenance=dict(record.get("provenance", {})))


def stored_record(chip: ChipConfig) -> dict | None:
    """The stored synthesis result (``hwsim/area/stored/*.json``) with ``chip``'s HDL parameters, or None."""
    wanted = {"core": core_hdl_params(chip), "chip": chip_hdl_params(chip), "exit": exit_hdl_params(chip)}
    for path in sorted(STORED_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("provenance", {}).get("hdl_params") == wanted:
            return record
    return None


def run_area(chip: ChipConfig) -> tuple[float | None, str, dict | None]:
    """Chip area for ``hwsim run``, without running Yosys: ``(mm² or None, where it comes from, breakdown or None)``.

    Only the stored synthesis results (``hwsim/area/stored``, the presets; matched by HDL parameters,
    priced with the chip's area table) are used, never a user's cache, so a report is a function of the
    repository alone. Other configs get None and the reason, naming the command that computes the area.
    The breakdown is :func:`area_breakdown` of the stored result.
    """
    if chip.core_type != "digital":
        return None, "no area model for RRAM cores (rtl/ has no crossbar core)", None
    if not (TABLE_DIR / f"{chip.technology}.toml").is_file():
        return None, f"no area table for technology {chip.technology!r} (hwsim/area/tables)", None
    record = stored_record(chip)
    if record is None:
        return None, (f"no stored synthesis for these HDL parameters (hwsim run does not run Yosys): "
                      f"'hwsim area --chip {chip.name}' computes it (docs/area.md)"), None
    report = report_from_record(record, chip, load_area_table(chip.technology))
    source = f"stored synthesis hwsim/area/stored/{record['chip']}.json, area table {report.table}"
    return round(report.chip_mm2, 6), source, area_breakdown(report)


def run_area_mm2(chip: ChipConfig) -> tuple[float | None, str]:
    """``(mm² or None, where it comes from)`` of :func:`run_area`."""
    mm2, source, _ = run_area(chip)
    return mm2, source


def area_breakdown(report: AreaReport) -> dict:
    """The per-block areas a run report shows (``area_by_block`` of report.json), in mm².

    Each block has its area in its scope (``mm2``: one core for core blocks, the whole chip for chip blocks),
    its part of the chip (``chip_mm2``: core blocks times the core count) and its shares of one core (None for
    chip blocks) and of the chip, so renderers compute nothing.
    """
    n = report.n_cores
    blocks = []
    for b in report.blocks:
        in_chip = b.um2 * (n if b.scope == "core" else 1)
        blocks.append({"name": b.name, "scope": b.scope, "kind": b.kind, "instances": b.instances,
                       "mm2": round(b.um2 / 1e6, 6), "chip_mm2": round(in_chip / 1e6, 6),
                       "share_of_core": round(b.um2 / report.core_um2, 6) if b.scope == "core" else None,
                       "share_of_chip": round(in_chip / report.chip_um2, 6)})
    return {"area_table": report.table, "n_cores": n, "core_mm2": round(report.core_um2 / 1e6, 6),
            "chip_level_mm2": round(report.chip_level_um2 / 1e6, 6), "chip_mm2": round(report.chip_mm2, 6),
            "blocks": blocks}


# ---------------------------------------------------------------- the stored results: check and regenerate

REGENERATE_COMMAND = "python -m hwsim.area --regenerate"


def stored_problems(rtl_dir: Path | None = None) -> list[str]:
    """Why each stored synthesis result no longer describes the repository (empty when all are current).

    A stored file ``hwsim/area/stored/NAME.json`` is current when its ``rtl_sha256`` is the SHA-256 of
    today's ``rtl/snn_*.v`` (:func:`~hwsim.area.synth.rtl_digest`) and its HDL parameters are those of
    the preset ``NAME`` (else ``hwsim run`` would silently find no area for that preset).
    """
    from hwsim.config import load_chip_config

    digest = rtl_digest(rtl_dir)
    problems = []
    for path in sorted(STORED_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        provenance = record.get("provenance", {})
        stored_sha = str(provenance.get("rtl_sha256"))
        if stored_sha != digest:
            problems.append(f"{path.name}: synthesised from rtl/ with SHA-256 {stored_sha[:12]}, "
                            f"today's rtl/snn_*.v is {digest[:12]}")
        chip = load_chip_config(path.stem)
        wanted = {"core": core_hdl_params(chip), "chip": chip_hdl_params(chip), "exit": exit_hdl_params(chip)}
        if provenance.get("hdl_params") != wanted:
            problems.append(f"{path.name}: HDL parameters {provenance.get('hdl_params')} are not preset "
                            f"{path.stem!r}'s {wanted}")
    return problems


def regenerate_stored(names: list[str] | None = None, *, use_cache: bool = True, log=print) -> list[Path]:
    """Synthesise the presets of ``hwsim/area/stored`` again (all, or ``names``) and rewrite their files.

    Each file is ``area.json`` of ``hwsim area --chip NAME`` (:meth:`AreaReport.to_dict`), written atomically.
    Needs Yosys; a result already in the synthesis cache (same RTL contents, parameters, Yosys) is reused.
    """
    from hwsim.config import load_chip_config
    from hwsim.writers import atomic_write_bytes

    names = list(names) if names else sorted(p.stem for p in STORED_DIR.glob("*.json"))
    written = []
    for name in names:
        chip = load_chip_config(name)
        log(f"synthesising {name} (a big core takes minutes the first time)")
        report = chip_area(chip, load_area_table(chip.technology), use_cache=use_cache)
        path = STORED_DIR / f"{name}.json"
        atomic_write_bytes(path, (json.dumps(report.to_dict(), indent=1) + "\n").encode())
        log(f"wrote {path}: {report.chip_mm2:.4f} mm2")
        written.append(path)
    return written
