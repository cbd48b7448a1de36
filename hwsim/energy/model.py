"""Energy and latency of a run: action counts times energies from a technology table.

The simulator only counts what each component did (chip-spec §2.5 counters).
This module turns those counters into Accelergy-style action counts keyed by
``(component, action)``, multiplies them by the energies of a
:class:`~hwsim.energy.table.EnergyTable`, adds leakage (static power times
runtime) and returns a plain-data :class:`EnergyReport`: per image, per
component, per action, per core and per layer, plus latency, throughput and
energy-delay product. No energy number lives in this file.

Units: energy in pJ inside the report arrays (``*_pj``), summaries in nJ per
image; time in cycles and µs (cycles / ``clock_mhz``); µW x µs = pJ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwsim.config import ChipConfig
from hwsim.energy.table import EnergyTable, load_table
from hwsim.errors import InputError
from hwsim.exit_unit import acc_bits
from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES, EXIT_COUNTER_NAMES, NOC_COUNTER_NAMES, RunResult

__all__ = [
    "Term",
    "CORE_ACTIONS",
    "HOST_ACTIONS",
    "STATIC_ACTIONS",
    "PSUM_ACTIONS",
    "PSUM_STATIC_ACTIONS",
    "PSUM_SENDERS",
    "PSUM_RECEIVERS",
    "EXIT_ACTIONS",
    "EXIT_COMPONENT",
    "MESH_ACTIONS",
    "MESH_LAYER",
    "EXIT_LAYER",
    "ActionCounts",
    "EnergyReport",
    "action_counts",
    "core_storage_bits",
    "describe_action",
    "describe_psum_action",
    "describe_exit_action",
    "describe_mesh_action",
    "estimate",
    "exit_action_counts",
    "mesh_action_counts",
    "psum_buffer_bits",
    "price_actions",
    "layer_name",
]

@dataclass(frozen=True)
class Term:
    """One term of an action count: ``coefficient x counter x`` the product of some core parameters.

    Attributes:
        counter: A chip-spec §2.5 counter (:data:`hwsim.result.COUNTER_NAMES`).
        params: Names of :class:`~hwsim.config.CoreConfig` attributes multiplied in (e.g. ``("lanes", "w_bits")``).
        coefficient: Integer factor.
    """

    counter: str
    params: tuple[str, ...] = ()
    coefficient: int = 1

    def text(self) -> str:
        return " * ".join(([str(self.coefficient)] if self.coefficient != 1 else []) + [self.counter, *self.params])


# What each digital-core action counts, per core, in chip-spec §2.5 counters: the one definition, which
# action_counts evaluates and describe_action prints. The energies come from the table.
CORE_ACTIONS: dict[tuple[str, str], tuple[Term, ...]] = {
    ("core.spike_buffer", "scan_axon"): (Term("axon_events"),),
    ("core.weight_sram", "read_bit"): (Term("sram_word_reads", ("lanes", "w_bits")),),
    ("core.accumulator", "add_bit"): (Term("synaptic_ops", ("v_bits",)),),
    # the lane group's membranes are read and written back for every weight word; every neuron update
    # reads the membrane and the bias and writes the membrane back
    ("core.membrane_rf", "access_bit"): (
        Term("sram_word_reads", ("lanes", "v_bits"), 2),
        Term("neuron_updates", ("v_bits",), 3),
    ),
    ("core.neuron", "update_bit"): (Term("neuron_updates", ("v_bits",)),),
    ("core.controller", "cycle"): (Term("cycles"),),
    ("core.router", "send_packet"): (Term("packets"),),
    ("noc.link", "hop"): (Term("hops"),),
}
#: The host port's actions, in host counters (chip-spec §2.5).
HOST_ACTIONS: dict[tuple[str, str], str] = {
    ("host.port", "send_packet"): "packets",
    ("noc.link", "hop"): "hops",
}
#: Leakage: static power per stored bit, for :func:`core_storage_bits` of every mesh core, for the runtime.
STATIC_ACTIONS: dict[tuple[str, str], str] = {
    ("core.storage", "leak_bit"): "core_storage_bits(chip) per mesh core, for the runtime",
}

# Partial sums (chip-spec §1.3), counted only on chips with core.partial_sums = true, each over one role of
# cores: the partial-sum cores (psum_out, the senders: every packet they send is a partial-sum packet, since
# they never fire) or the receivers (ChipProgram.psum_receivers(), which run MERGE in every timestep).
PSUM_SENDERS = "psum_out cores"
PSUM_RECEIVERS = "psum receivers"
#: ``(component, action) -> (role, terms)``: what each partial-sum action counts, over the cores of one role.
#: A sender's packets are counted by these actions instead of ``core.router/send_packet``; their hops stay in
#: ``noc.link/hop`` (the address part of the flit) and their v_bits payload is priced per bit and traversal.
PSUM_ACTIONS: dict[tuple[str, str], tuple[str, tuple[Term, ...]]] = {
    ("core.router", "send_psum_packet"): (PSUM_SENDERS, (Term("packets"),)),
    ("core.router", "psum_payload_bit"): (PSUM_SENDERS, (Term("packets", ("v_bits",)),)),
    ("noc.link", "psum_payload_bit"): (PSUM_SENDERS, (Term("hops", ("v_bits",)),)),
    # the word write at delivery happens in the receiver's buffer but is booked with the sender, which counts
    # the packets (in a mapped chain sender and receiver are stages of the same layer part)
    ("core.psum_buffer", "write_bit"): (PSUM_SENDERS, (Term("packets", ("v_bits",)),)),
    # MERGE, per neuron and timestep of a receiver (its neuron_updates, chip-spec §1.3 "Counters"):
    # one buffer word read (read-and-clear), one saturating add, the membrane read and written back
    ("core.psum_buffer", "read_bit"): (PSUM_RECEIVERS, (Term("neuron_updates", ("v_bits",)),)),
    ("core.psum_buffer", "merge_add_bit"): (PSUM_RECEIVERS, (Term("neuron_updates", ("v_bits",)),)),
    ("core.membrane_rf", "merge_access_bit"): (PSUM_RECEIVERS, (Term("neuron_updates", ("v_bits",), 2),)),
}
#: Leakage of the N x v_bits partial-sum buffer of every mesh core of a chip with partial sums.
PSUM_STATIC_ACTIONS: dict[tuple[str, str], str] = {
    ("core.psum_buffer", "leak_bit"): "psum_buffer_bits(chip) per mesh core, for the runtime",
}

# The early-exit unit (chip-spec §1.4), on the host side of the output cores: what each of its actions counts, per
# image, in its counters (hwsim.result.EXIT_COUNTER_NAMES); "acc_bits" is the accumulator width v_bits + 13.
# Counted only for a run with an exit rule: under rule "none" there is no exit unit, so nothing is counted or
# reported and energies stay what they were. Its cycles are in timestep_cycles, so leakage covers them.
EXIT_COMPONENT = "exit.unit"
EXIT_ACTIONS: dict[tuple[str, str], tuple[Term, ...]] = {
    # pass 1, per output: the accumulator add and the compares against the running top 1 and top 2
    (EXIT_COMPONENT, "add_bit"): (Term("acc_updates", ("acc_bits",), 3),),
    (EXIT_COMPONENT, "multiply"): (Term("multiplies"),),
    (EXIT_COMPONENT, "lut_read"): (Term("lut_reads"),),
    (EXIT_COMPONENT, "cycle"): (Term("cycles"),),
}

# The mesh routers (chip-spec §1.5), counted only on chips with noc = "mesh", per image from the run's noc_counters
# (NOC_COUNTER_NAMES) and the packets of all senders: "deliveries" = every packet injected (core and host packets;
# each is delivered once, through a local output port). The link and switch of every hop stay in noc.link/hop and the
# injection in core.router / host.port, as under "ideal"; these are what the mesh's buffered routers add
# (docs/energy.md §2.3). Under "ideal" nothing is counted, so energies stay bit for bit what they were.
MESH_ACTIONS: dict[tuple[str, str], tuple[Term, ...]] = {
    ("noc.router", "buffer_write"): (Term("buffer_writes"),),
    # every phase drains (chip-spec §1.5), so every packet written into a buffer is read out of it once
    ("noc.router", "buffer_read"): (Term("buffer_writes"),),
    # one request per packet per cycle it waits at the head of an input port: granted once per traversal or
    # delivery, and once more for every stall cycle
    ("noc.router", "arbitrate"): (Term("deliveries"), Term("buffer_writes"), Term("stall_cycles")),
}
MESH_COUNTER_NAMES = ("deliveries", "buffer_writes", "stall_cycles")

HOST_LAYER = "host"
MESH_LAYER = "mesh routers"
EXIT_LAYER = "exit unit"
IDLE_LAYER = "idle cores"
STATIC_COMPONENT = "leakage"


def describe_action(key: tuple[str, str]) -> str:
    """The count of a digital-core action as text, e.g. ``"sram_word_reads * lanes * w_bits"``."""
    return " + ".join(term.text() for term in CORE_ACTIONS[key])


def describe_psum_action(key: tuple[str, str]) -> str:
    """The count of a partial-sum action as text, e.g. ``"packets * v_bits"`` (over the cores of its role)."""
    return " + ".join(term.text() for term in PSUM_ACTIONS[key][1])


def describe_exit_action(key: tuple[str, str]) -> str:
    """The count of an exit-unit action as text, e.g. ``"3 * acc_updates * acc_bits"`` (per image)."""
    return " + ".join(term.text() for term in EXIT_ACTIONS[key])


def describe_mesh_action(key: tuple[str, str]) -> str:
    """The count of a mesh-router action as text, e.g. ``"deliveries + buffer_writes + stall_cycles"`` (per image)."""
    return " + ".join(term.text() for term in MESH_ACTIONS[key])


def key_name(key: tuple[str, str]) -> str:
    """``"component/action"``, the flat name used in reports."""
    return f"{key[0]}/{key[1]}"


def core_storage_bits(chip: ChipConfig) -> int:
    """Stored bits of one core: weight SRAM, membrane and bias registers, input bitmap."""
    cc = chip.core
    return cc.axons * cc.neurons * cc.w_bits + 2 * cc.neurons * cc.v_bits + cc.axons


def psum_buffer_bits(chip: ChipConfig) -> int:
    """Bits of one core's partial-sum buffer: ``N x v_bits`` on chips with partial sums, else 0."""
    cc = chip.core
    return cc.neurons * cc.v_bits if cc.partial_sums else 0


def layer_name(label: str, stage: int) -> str:
    """Layer a core belongs to: the label up to ``[`` (mapper labels ``fc0[0:256]``), else ``stage<k>``."""
    name = label.split("[", 1)[0].strip() if label else ""
    return name or f"stage{stage}"


def _evaluate_terms(terms: tuple[Term, ...], counters: np.ndarray, names: tuple[str, ...], param) -> np.ndarray:
    """``sum of coefficient x counter x params`` over ``terms``; ``counters[..., i]`` is counter ``names[i]``,
    ``param(name)`` the value of a parameter. Integer (int64) arithmetic: exact, in any order."""
    total = 0
    for term in terms:
        factor = term.coefficient
        for name in term.params:
            factor *= param(name)
        total = total + counters[..., names.index(term.counter)] * factor
    return total


@dataclass(frozen=True)
class ActionCounts:
    """Action counts of a batch of inferences, summed over timesteps.

    Attributes:
        core: ``(component, action) -> (B, n_cores)`` counts per program core.
        host: ``(component, action) -> (B,)`` counts of the host port.
        runtime_us: ``(B,)`` runtime of each inference in µs.
        cycles: ``(B,)`` chip cycles of each inference.
        storage_bits_per_core: Stored (leaking) bits of one core.
        n_mesh_cores: Cores on the mesh, all of which leak.
        psum_buffer_bits_per_core: Bits of one core's partial-sum buffer (0 without partial sums), priced
            with :data:`PSUM_STATIC_ACTIONS`.
        mesh: ``(component, action) -> (B,)`` counts of the mesh routers (:data:`MESH_ACTIONS`); empty under
            ``noc = "ideal"``.
    """

    core: dict[tuple[str, str], np.ndarray]
    host: dict[tuple[str, str], np.ndarray]
    runtime_us: np.ndarray
    cycles: np.ndarray
    storage_bits_per_core: int
    n_mesh_cores: int
    psum_buffer_bits_per_core: int = 0
    mesh: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def action_counts(result: RunResult, program: ChipProgram) -> ActionCounts:
    """Turn a run's counters into action counts (see :data:`CORE_ACTIONS`, and :data:`PSUM_ACTIONS` on chips
    with partial sums).

    Raises:
        InputError: the result does not belong to the program.
    """
    if tuple(result.core_ids) != tuple(cp.core for cp in program.cores):
        raise InputError(
            f"run result cores {list(result.core_ids)} do not match the program's cores "
            f"{[cp.core for cp in program.cores]}"
        )
    chip, cc = program.chip, program.chip.core
    c = result.counters.sum(axis=1, dtype=np.int64)  # (B, C, K)

    def count(terms: tuple[Term, ...]) -> np.ndarray:
        return _evaluate_terms(terms, c, COUNTER_NAMES, lambda name: getattr(cc, name))

    core = {key: count(terms) for key, terms in CORE_ACTIONS.items()}
    if cc.partial_sums:
        # chips without partial sums skip this block, so their counts (and energies) stay bit for bit
        senders = np.array([cp.psum_out for cp in program.cores], bool)
        receiver_ids = program.psum_receivers()
        receivers = np.array([cp.core in receiver_ids for cp in program.cores], bool)
        role = {PSUM_SENDERS: senders, PSUM_RECEIVERS: receivers}
        # a psum_out core never fires, so all its packets are partial-sum packets: spike packets are the others'
        core[("core.router", "send_packet")] = np.where(~senders, core[("core.router", "send_packet")], 0)
        for key, (who, terms) in PSUM_ACTIONS.items():
            core[key] = np.where(role[who], count(terms), 0)
    host = {key: result.host_counter(name).sum(axis=1, dtype=np.int64) for key, name in HOST_ACTIONS.items()}
    cycles = result.cycles_per_inference.astype(np.int64)  # sum of chip-spec §1.2 timestep_cycles
    return ActionCounts(
        core=core,
        host=host,
        runtime_us=cycles / float(chip.clock_mhz),
        cycles=cycles,
        storage_bits_per_core=core_storage_bits(chip),
        n_mesh_cores=chip.n_cores,
        psum_buffer_bits_per_core=psum_buffer_bits(chip),
        mesh=mesh_action_counts(result, chip),
    )


def mesh_action_counts(result: RunResult, chip: ChipConfig) -> dict[tuple[str, str], np.ndarray]:
    """``(component, action) -> (B,)`` counts of the mesh routers' actions (:data:`MESH_ACTIONS`) per image, from
    the run's ``noc_counters`` and packets summed over timesteps; empty under ``noc = "ideal"``."""
    if getattr(chip, "noc", "ideal") != "mesh":
        return {}
    noc = result.noc_counters.sum(axis=1, dtype=np.int64)  # (B, 3)
    deliveries = (result.counter("packets").sum(axis=(1, 2), dtype=np.int64)
                  + result.host_counter("packets").sum(axis=1, dtype=np.int64))
    per_image = np.stack([deliveries, noc[:, NOC_COUNTER_NAMES.index("buffer_writes")],
                          noc[:, NOC_COUNTER_NAMES.index("stall_cycles")]], axis=1)
    return {key: _evaluate_terms(terms, per_image, MESH_COUNTER_NAMES, None) for key, terms in MESH_ACTIONS.items()}


def exit_action_counts(result: RunResult, chip: ChipConfig) -> dict[tuple[str, str], np.ndarray]:
    """``(component, action) -> (B,)`` counts of the exit unit's actions (:data:`EXIT_ACTIONS`), from the run's
    exit counters summed over timesteps (rows after an image's exit are 0); empty under rule ``none``."""
    if getattr(result, "exit_rule", "none") == "none":
        return {}
    c = result.exit_counters.sum(axis=1, dtype=np.int64)  # (B, 4)
    widths = {"acc_bits": acc_bits(chip.core.v_bits)}
    return {key: _evaluate_terms(terms, c, EXIT_COUNTER_NAMES, widths.__getitem__)
            for key, terms in EXIT_ACTIONS.items()}


@dataclass(frozen=True)
class EnergyReport:
    """Energy and latency of ``B`` inferences (plain data; arrays are per image).

    Attributes:
        table: Table name.
        table_version: Table version.
        global_scale: Calibration factor applied to every entry.
        clock_mhz: Chip clock.
        timesteps: Timesteps per inference.
        total_pj: ``(B,)`` total energy per image.
        dynamic_pj: ``(B,)`` dynamic part.
        static_pj: ``(B,)`` leakage part.
        by_action: ``"component/action" -> (B,)`` energy in pJ.
        action_counts: ``"component/action" -> (B,)`` counts (core + host).
        by_component: Component class (``core.weight_sram``, ..., ``exit.unit`` with an exit rule, ``leakage``)
            -> ``(B,)`` pJ.
        by_layer: Layer name (``host``, layers in stage order, ``mesh routers`` under ``noc = "mesh"``,
            ``exit unit`` with an exit rule, ``idle cores``) -> ``(B,)`` pJ.
        by_core: ``(B, n_cores)`` pJ per program core (dynamic + its own leakage).
        core_ids: Mesh index of each program core.
        cycles: ``(B,)`` chip cycles per image.
        latency_us: ``(B,)`` µs per image at ``clock_mhz``.
        sops: ``(B,)`` synaptic operations per image.
    """

    table: str
    table_version: str
    global_scale: float
    clock_mhz: float
    timesteps: int
    total_pj: np.ndarray
    dynamic_pj: np.ndarray
    static_pj: np.ndarray
    by_action: dict[str, np.ndarray]
    action_counts: dict[str, np.ndarray]
    by_component: dict[str, np.ndarray]
    by_layer: dict[str, np.ndarray]
    by_core: np.ndarray
    core_ids: tuple[int, ...]
    cycles: np.ndarray
    latency_us: np.ndarray
    sops: np.ndarray
    static_power_uw: float = 0.0
    notes: dict = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(self.total_pj.shape[0])

    @property
    def energy_nj_per_image(self) -> float:
        """Mean total energy per image in nJ."""
        return float(self.total_pj.mean() / 1e3)

    @property
    def latency_us_per_image(self) -> float:
        return float(self.latency_us.mean())

    @property
    def throughput_images_per_s(self) -> float:
        """Images per second, one inference after another (the chip runs one image at a time)."""
        return float(1e6 / self.latency_us.mean())

    @property
    def sops_per_image(self) -> float:
        return float(self.sops.mean())

    @property
    def pj_per_sop(self) -> float | None:
        """Total energy (dynamic + leakage) divided by synaptic operations; None without SOPs."""
        total_sops = float(self.sops.sum())
        return float(self.total_pj.sum() / total_sops) if total_sops > 0 else None

    @property
    def edp_nj_us(self) -> float:
        """Energy-delay product per image, mean over images, in nJ x µs."""
        return float((self.total_pj / 1e3 * self.latency_us).mean())

    def summary(self) -> dict:
        """Headline numbers as JSON-ready floats."""
        nj = self.total_pj / 1e3
        return {
            "energy_nj_per_image": self.energy_nj_per_image,
            "energy_nj_std": float(nj.std()),
            "energy_nj_min": float(nj.min()),
            "energy_nj_p05": float(np.percentile(nj, 5)),
            "energy_nj_p95": float(np.percentile(nj, 95)),
            "energy_nj_max": float(nj.max()),
            "dynamic_nj_per_image": float(self.dynamic_pj.mean() / 1e3),
            "static_nj_per_image": float(self.static_pj.mean() / 1e3),
            "latency_cycles_per_image": float(self.cycles.mean()),
            "latency_us_per_image": self.latency_us_per_image,
            "throughput_images_per_s": self.throughput_images_per_s,
            "sops_per_image": self.sops_per_image,
            "pj_per_sop": self.pj_per_sop,
            "edp_nj_us": self.edp_nj_us,
            "static_power_uw": self.static_power_uw,
        }

    def to_dict(self) -> dict:
        """Summary plus per-image means of every breakdown, JSON-ready."""
        mean = lambda d: {k: float(v.mean()) for k, v in d.items()}  # noqa: E731
        return {
            "table": self.table,
            "table_version": self.table_version,
            "global_scale": self.global_scale,
            "clock_mhz": self.clock_mhz,
            "timesteps": self.timesteps,
            "n_images": self.n_images,
            **self.summary(),
            "by_component_pj": mean(self.by_component),
            "by_layer_pj": mean(self.by_layer),
            "by_action_pj": mean(self.by_action),
            "action_counts": mean(self.action_counts),
            "by_core_pj": {str(c): float(self.by_core[:, k].mean()) for k, c in enumerate(self.core_ids)},
        }


def estimate(result: RunResult, program: ChipProgram, table: EnergyTable | str | None = None) -> EnergyReport:
    """Energy, latency and their breakdowns for a run of ``program``.

    Args:
        result: What the golden model or the engine returned.
        program: The chip program that was run.
        table: An :class:`EnergyTable`, a table name or path; default: the chip's ``technology``.

    Returns:
        An :class:`EnergyReport`.

    Raises:
        EnergyTableError: the table lacks an entry the digital core needs.
        InputError: the result does not belong to the program, or the chip is not a digital-core chip.
    """
    core_type = getattr(program.chip, "core_type", "digital")
    if core_type != "digital":
        raise InputError(
            f"chip {program.chip.name!r} has core_type = {core_type!r}: hwsim.energy.estimate models the "
            "digital core (chip-spec §2); for RRAM chips use hwsim.rram.energy.rram_energy"
        )
    table = load_table(program.chip.technology if table is None else table)
    return price_actions(result, program, table, action_counts(result, program))


def price_actions(
    result: RunResult,
    program: ChipProgram,
    table: EnergyTable,
    counts: ActionCounts,
    *,
    direct_core_pj: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None,
    report_type: type[EnergyReport] | None = None,
) -> EnergyReport:
    """Energy of every counted action (count x table entry), the leakage, and every breakdown.

    Shared by the digital model (:func:`estimate`) and the RRAM one
    (:func:`hwsim.rram.energy.rram_energy`), which differ only in what they count.

    Args:
        result, program: The run and its program (timesteps, cores, synaptic operations).
        table: Energy table; every action of ``counts`` must have an entry.
        counts: Action counts, runtime and leaking bits.
        direct_core_pj: Energies that are not table entries, ``(component, action) -> ((B, n_cores) pJ,
            (B,) counts)`` (the RRAM cell reads, from the conductances read); added after the table's
            core actions and not scaled by the table's ``global_scale``.
        report_type: :class:`EnergyReport` or a subclass of it.
    """
    # the chip's supply voltage (docs/energy.md §9); unset: the table as stored, bit for bit
    table = table.at_voltage(getattr(program.chip, "voltage_v", None))
    s = table.global_scale
    B, C = result.batch_size, len(program.cores)

    by_action: dict[str, np.ndarray] = {}
    act_counts: dict[str, np.ndarray] = {}
    by_component: dict[str, np.ndarray] = {}
    per_core_dyn = np.zeros((B, C))
    host_dyn = np.zeros(B)

    def add(store: dict, name: str, value: np.ndarray) -> None:
        store[name] = store.get(name, 0) + value

    def price(key: tuple[str, str], n: np.ndarray) -> np.ndarray:
        """The energy of ``n`` actions: global scale x table entry x count (pJ)."""
        return s * table.energy_pj(*key) * n.astype(np.float64)

    def book(key: tuple[str, str], e: np.ndarray, n: np.ndarray) -> None:
        """Add one action's energy and count (per image) to the breakdowns."""
        add(by_action, key_name(key), e)
        add(act_counts, key_name(key), n)
        add(by_component, key[0], e)

    for key, n in counts.core.items():
        e = price(key, n)  # (B, C)
        per_core_dyn += e
        book(key, e.sum(axis=1), n.sum(axis=1))
    for key, (e, n) in (direct_core_pj or {}).items():
        per_core_dyn += e
        book(key, e.sum(axis=1), n)
    for key, n in counts.host.items():
        e = price(key, n)  # (B,)
        host_dyn += e
        book(key, e, n)
    mesh_dyn = np.zeros(B)
    for key, n in counts.mesh.items():  # empty under noc = "ideal": nothing added, sums unchanged
        e = price(key, n)  # (B,)
        mesh_dyn += e
        book(key, e, n)
    exit_counts = exit_action_counts(result, program.chip)  # empty under rule none: nothing added, sums unchanged
    exit_dyn = np.zeros(B)
    for key, n in exit_counts.items():
        e = price(key, n)  # (B,)
        exit_dyn += e
        book(key, e, n)

    (static_key,) = STATIC_ACTIONS
    core_power_uw = s * table.static_power_uw(*static_key) * counts.storage_bits_per_core
    leak_per_core = core_power_uw * counts.runtime_us  # (B,) pJ, µW x µs
    static = leak_per_core * counts.n_mesh_cores  # idle cores leak too (chip-spec §1.2)
    by_action[key_name(static_key)] = static
    act_counts[key_name(static_key)] = np.full(B, counts.storage_bits_per_core * counts.n_mesh_cores, np.float64)
    if counts.psum_buffer_bits_per_core:  # chips with partial sums only: the others keep their exact sums
        (psum_key,) = PSUM_STATIC_ACTIONS
        psum_power_uw = s * table.static_power_uw(*psum_key) * counts.psum_buffer_bits_per_core
        psum_leak_per_core = psum_power_uw * counts.runtime_us
        psum_static = psum_leak_per_core * counts.n_mesh_cores
        by_action[key_name(psum_key)] = psum_static
        act_counts[key_name(psum_key)] = np.full(B, counts.psum_buffer_bits_per_core * counts.n_mesh_cores,
                                                 np.float64)
        core_power_uw = core_power_uw + psum_power_uw
        leak_per_core = leak_per_core + psum_leak_per_core
        static = static + psum_static
    by_component[STATIC_COMPONENT] = static

    by_core = per_core_dyn + leak_per_core[:, None]
    by_layer: dict[str, np.ndarray] = {HOST_LAYER: host_dyn}
    for k, cp in sorted(enumerate(program.cores), key=lambda kc: (kc[1].stage, kc[1].core)):
        add(by_layer, layer_name(cp.label, cp.stage), by_core[:, k])
    if counts.mesh:
        by_layer[MESH_LAYER] = mesh_dyn
    if exit_counts:
        by_layer[EXIT_LAYER] = exit_dyn
    n_idle = counts.n_mesh_cores - C
    by_layer[IDLE_LAYER] = leak_per_core * n_idle

    dynamic = per_core_dyn.sum(axis=1) + host_dyn
    if counts.mesh:
        dynamic = dynamic + mesh_dyn
    if exit_counts:
        dynamic = dynamic + exit_dyn
    sops = result.counter("synaptic_ops").sum(axis=(1, 2)).astype(np.int64)
    return (report_type or EnergyReport)(
        table=table.name,
        table_version=table.version,
        global_scale=s,
        clock_mhz=float(program.chip.clock_mhz),
        timesteps=result.timesteps,
        total_pj=dynamic + static,
        dynamic_pj=dynamic,
        static_pj=static,
        by_action={k: np.asarray(v, np.float64) for k, v in by_action.items()},
        action_counts={k: np.asarray(v, np.float64) for k, v in act_counts.items()},
        by_component={k: np.asarray(v, np.float64) for k, v in by_component.items()},
        by_layer={k: np.asarray(v, np.float64) for k, v in by_layer.items()},
        by_core=by_core,
        core_ids=tuple(result.core_ids),
        cycles=counts.cycles,
        latency_us=counts.runtime_us,
        sops=sops,
        static_power_uw=core_power_uw * counts.n_mesh_cores,
    )
