"""The named structures the kernels take: a chip program unpacked into arrays, grouped by concern.

Numba compiles a namedtuple argument into a plain struct (each field keeps its
own array type, a field access costs nothing at run time), so a kernel call
reads as a few named groups instead of fifty positional arrays. Every field is
an array or a scalar; "per core" arrays are indexed by the kernel's core
index (stage order for :func:`hwsim.kernels.chip.chip_pass`, program order for
:func:`hwsim.kernels.rram.rram_chip_run`).

The engines build them once per loaded program (:class:`hwsim.chip.EnginePlan`,
:class:`hwsim.rram.engine.RramEnginePlan`) and pass each to a kernel as a plain
tuple, ``tuple(group)``; the kernel names the fields again on its first lines
(``routes = RoutingTable(*routes)``, free at run time). Numba's dispatcher
types a plain tuple of arrays in C but a namedtuple through Python, about 1 us
per structure on every call (an empty ``chip_pass`` call: 11 us instead of 4).
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ["RoutingTable", "IncomingRoutes", "PartialSums", "NeuronArrays", "SramWeights", "Crossbars", "ChipConstants",
           "ReadCircuit", "SpikeLists", "CoreScratch", "ChipOutputs", "RramOutputs", "MeshNoc", "NocScratch",
           "ExitInputs"]

#: Routing entries of a set of senders (chip-spec §1.1): those of sender ``s`` are ``ptr[s] : ptr[s+1]``.
#: Entry ``r`` sends sources ``lo[r] .. hi[r]-1`` to core ``dest[r]`` (kernel core index) from axon
#: ``offset[r]`` on, ``hops[r]`` hops away; ``max_hops[s]`` is the largest hop count of sender ``s``'s
#: entries, 0 if it has none (its route cycles, §1.2). The host port is a table with one sender.
RoutingTable = namedtuple("RoutingTable", ["ptr", "dest", "lo", "hi", "offset", "hops", "max_hops"])

#: The routes into each core, seen from the receiver (the digital engine gathers its axons through
#: them): those of core ``i`` are ``ptr[i] : ptr[i+1]``, sorted by axon offset; ``sender[r]`` is 0 for
#: the host, ``j + 1`` for core ``j``.
IncomingRoutes = namedtuple("IncomingRoutes", ["ptr", "sender", "lo", "hi", "offset"])

#: Partial sums (chip-spec §1.3), per core: ``out[i]`` is its ``psum_out`` register (it sends its nonzero
#: membranes instead of spikes); ``ptr``, ``sender``, ``lo``, ``hi``, ``offset`` are the partial-sum routes
#: into each core as in :data:`IncomingRoutes` (``offset`` is a neuron index here), those of core ``i`` at
#: ``ptr[i] : ptr[i+1]``. A core with any is a partial-sum receiver (it runs MERGE every timestep). Kept apart
#: from :data:`IncomingRoutes`, so the spike gather of a program without partial sums is untouched.
PartialSums = namedtuple("PartialSums", ["out", "ptr", "sender", "lo", "hi", "offset"])

#: Per core, its neuron units (chip-spec §2.2): ``n_neurons``; ``start``: first index of its neurons in
#: the flat per-neuron arrays (``bias``, membranes); the registers, the modes as their register codes
#: (``integration``, ``reset``: :mod:`hwsim.neuron`); ``n_groups``: lane groups (§2.4).
NeuronArrays = namedtuple(
    "NeuronArrays",
    ["n_neurons", "start", "bias", "threshold", "leak_shift", "integration", "reset", "fire", "n_groups"],
)

#: Per digital core, its weight SRAM: ``n_axons``; ``start``: first weight in ``w`` (flat, C-order
#: ``(n_axons, n_neurons)`` blocks); ``w_pos``/``w_neg``: its largest positive/negative weight magnitude.
SramWeights = namedtuple("SramWeights", ["n_axons", "start", "w", "w_pos", "w_neg"])

#: Per RRAM core, its crossbar (chip-spec §7): ``n_axons``; ``axon_start``: first axon in flat per-axon
#: arrays (``row_g``, the inbox); ``g_start``: first cell in the flat ``(n_axons, n_neurons)`` blocks
#: ``g_diff`` (G+ - G-, uS) and ``g_sq`` (G+^2 + G-^2); ``row_g``: per axon sum of G+ + G- (uS);
#: ``adc_scale`` and ``lsb`` (uA) registers; ``read_cycles``: read and conversion cycles (§7.4).
Crossbars = namedtuple(
    "Crossbars", ["n_axons", "axon_start", "g_start", "g_diff", "g_sq", "row_g", "adc_scale", "lsb", "read_cycles"]
)

#: Constants of the chip: the ``v_bits`` range, the fixed cycles of a core timestep (§2.4), the NoC
#: hop latency and the barrier (§1.2).
ChipConstants = namedtuple(
    "ChipConstants", ["v_min", "v_max", "start_done_cycles", "sram_latency_cycles", "hop_latency", "barrier_cycles"]
)

#: The RRAM read circuit (chip-spec §7.3): read voltage (V), ``v_read * sigma`` of the read noise,
#: whether read noise is on, and the ADC code range (floats).
ReadCircuit = namedtuple("ReadCircuit", ["v_read", "v_sigma", "noisy", "adc_lo", "adc_hi"])

#: Spike lists of every sender for a micro-batch (module docstring of :mod:`hwsim.kernels.chip`). A
#: partial-sum core's list is empty; ``values`` (membrane type, parallel to ``store``; empty when the
#: program has no partial-sum core) holds its ``n_neurons`` membranes where its spike list would be.
SpikeLists = namedtuple("SpikeLists", ["store", "base", "stride", "counts", "values"])

#: Working arrays of one core, sized for the largest: membranes, gathered axons, fired flags.
CoreScratch = namedtuple("CoreScratch", ["v", "axons", "fired"])

#: What :func:`hwsim.kernels.chip.chip_pass` writes: per program core ``counters`` (B, T, C, 8) and
#: ``route_cycles`` (B, T, C); ``host_counters`` (B, T, 3); membranes ``mem_out`` and spikes
#: ``spk_out`` of core ``i`` from columns ``mem_col[i]``/``spk_col[i]`` on (-1: not written).
ChipOutputs = namedtuple(
    "ChipOutputs", ["counters", "route_cycles", "host_counters", "mem_out", "spk_out", "mem_col", "spk_col"]
)

#: What :func:`hwsim.kernels.rram.rram_chip_run` writes (names of :class:`hwsim.result.RunResult` and its
#: ``extra``); ``output_offset[k]`` is core ``k``'s first output, -1 if it is not an output core.
RramOutputs = namedtuple(
    "RramOutputs",
    ["output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles", "rram_counters",
     "read_conductance_us", "adc_peak", "output_offset"],
)

#: The mesh network-on-chip (chip-spec §1.5) as :func:`hwsim.kernels.chip.chip_pass` and
#: :func:`hwsim.kernels.noc.mesh_phase` see it. ``enabled``: ``noc = "mesh"`` (else the NoC pass is skipped and
#: the routing phases keep §1.2's lengths); ``rows``, ``cols``: the mesh; ``depth``: ``router_buffer_flits``;
#: ``hop_latency``; ``row``, ``col`` ``(rows * cols,)``: each router's position. Per sender in spike-list
#: numbering (0 the host, ``i + 1`` core ``i`` of the stage order): ``router``, its mesh index; ``psum``, whether
#: it sends its nonzero membranes (chip-spec §1.3); ``n_sources``, its neurons (its inputs for the host); its
#: routing entries ``ptr[s] : ptr[s+1]`` of ``dest`` (destination mesh index), ``lo``, ``hi``, in table order.
#: ``group``: the stage groups, cores ``group[g] .. group[g+1]-1`` of the stage order share the ``g``-th used
#: stage (one ``ROUTE`` phase).
MeshNoc = namedtuple(
    "MeshNoc",
    ["enabled", "rows", "cols", "depth", "hop_latency", "row", "col", "router", "psum", "n_sources", "ptr", "dest",
     "lo", "hi", "group"],
)

#: Per-thread working arrays of the mesh model (:func:`hwsim.kernels.noc.mesh_phase`), ``R`` routers of 5 ports,
#: ``D = depth``. Input buffers: ring buffers ``buf_dest``/``buf_out``/``buf_ready`` ``(R * 5 * D,)`` (the packet's
#: destination router, the output port it requests there, its ready cycle), ``buf_head``/``buf_len`` ``(R * 5,)``;
#: ``pointer`` ``(R * 5,)``, the round-robin pointer of each
#: output port. Network interfaces, per router: ``ni_sender`` (-1: none), the position in its sender's source
#: list ``ni_q``, the next routing entry ``ni_r``, the head packet's destination ``ni_dest`` (-1: none left) and
#: output port ``ni_out``, where its list starts ``ni_at`` and its length ``ni_n``; ``pending`` ``(R,)``: the
#: interfaces to move to their next packet before the next cycle. ``active`` ``(R,)``: the
#: routers with a request, or whose network interface is about to load its next packet; ``touched`` ``(R,)``:
#: those that held a packet in this phase (their pointers are reset at its end); ``in_active`` ``(R,)``:
#: 0 untouched, 1 active, 2 touched and not active; ``popped`` ``(5 * R,)``: the
#: last cycle in which each input port gave up a packet (0 at the start of a phase). ``links`` ``(R, 5, 2)``:
#: per-link packets and stall cycles, summed over every phase this thread ran. ``exit_values`` ``(micro, T, K)``
#: and ``exit_t`` ``(micro,)``: the exit unit's inputs and each image's timesteps run (chip-spec §1.4), so that
#: the NoC runs only the timesteps an image runs.
NocScratch = namedtuple(
    "NocScratch",
    ["buf_dest", "buf_out", "buf_ready", "buf_head", "buf_len", "pointer", "ni_sender", "ni_q", "ni_r",
     "ni_dest", "ni_out", "ni_at", "ni_n", "pending", "active", "touched", "in_active", "popped", "links",
     "exit_values",
     "exit_t"],
)

#: The exit rule of a run (chip-spec §1.4) for :func:`hwsim.kernels.chip.chip_pass` under the mesh NoC: ``rule``
#: (:data:`hwsim.kernels.exit_unit.RULE_CODES`, 0: every image runs all T), its registers ``threshold`` and
#: ``gain_num``, the tables ``exp_lut`` and ``ln_lut``, whether it reads membranes (else 0/1 spikes) and
#: ``cols`` ``(K,)``: the column of each output in ``ChipOutputs.mem_out``/``spk_out``.
ExitInputs = namedtuple("ExitInputs", ["rule", "threshold", "gain_num", "exp_lut", "ln_lut", "membrane", "cols"])
