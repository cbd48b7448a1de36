"""Golden model of one digital spike-sparse core (chip-spec §2).

Plain Python integers, one method per hardware phase, written to be read
next to the spec. Speed does not matter here; clarity does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwsim.config import (
    CORE_DONE_CYCLES,
    CORE_START_CYCLES,
    SRAM_READ_LATENCY_CYCLES,
    CoreConfig,
)
from hwsim.program import CoreProgram

__all__ = ["saturate", "leak", "GoldenCore", "core_cycles"]


def saturate(x: int, bits: int) -> int:
    """Clamp ``x`` to the signed ``bits``-bit range (chip-spec ``sat_b``)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lo if x < lo else hi if x > hi else x


def leak(v: int, leak_shift: int) -> int:
    """``v - (v >> leak_shift)``; Python's ``>>`` on ints is the arithmetic shift of the spec."""
    if leak_shift == 0:
        return v
    return v - (v >> leak_shift)


def core_cycles(n_spiking_axons: int, n_groups: int, psum_receiver: bool = False) -> int:
    """Cycles one core spends in a timestep (chip-spec §2.4).

    A partial-sum receiver (chip-spec §1.3) spends ``G`` MERGE cycles every
    timestep, whether or not a partial sum arrived.
    """
    merge = n_groups if psum_receiver else 0
    integrate = n_spiking_axons * n_groups
    if n_spiking_axons > 0:
        integrate += SRAM_READ_LATENCY_CYCLES
    return CORE_START_CYCLES + merge + integrate + n_groups + CORE_DONE_CYCLES


@dataclass
class GoldenCore:
    """State and behaviour of one programmed digital core.

    Registers (widths from :class:`CoreConfig`):
        v[j]: membrane, ``v_bits`` signed, saturating.
        bias[j]: ``v_bits`` signed.
        w[a][j]: ``w_bits`` signed.
        threshold: ``0 .. 2^(v_bits-1)-1``.

    A core type with another integrate phase (the RRAM crossbar core,
    :class:`hwsim.rram.golden.RramGoldenCore`) subclasses this one and
    replaces :meth:`integrate` and :meth:`activity`; START, UPDATE and the
    timestep order (:meth:`step`) are shared.

    Equations, per timestep (chip-spec §2.2)::

        v = 0                               if integration == discontinuous
        v[j] = sat(v[j] + psum[j])          if a partial-sum receiver (MERGE, §1.3)
        for a in spiking axons, ascending:  v[j] = sat(v[j] + w[a][j])
        v = sat(v + bias);  v -= v >> leak_shift
        spike = fire and v >= threshold
        v = v - threshold (subtract) | 0 (zero)   where spike

    A partial-sum core (``program.psum_out``, chip-spec §1.3) never fires and
    its UPDATE leaves ``v`` as it is (validation fixes its registers); what it
    emits is :meth:`partial_sums`, routed by the chip schedule.
    """

    config: CoreConfig
    program: CoreProgram
    #: The threshold register; the program's unless given (an RRAM chip instance may be tuned).
    threshold: int | None = None
    #: A partial-sum receiver (chip-spec §1.3): some partial-sum core routes to it, so it runs MERGE
    #: every timestep. Fixed by the whole program (:meth:`hwsim.program.ChipProgram.psum_receivers`).
    psum_receiver: bool = False
    v: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if self.threshold is None:
            self.threshold = self.program.threshold
        self.w = [[int(x) for x in row] for row in self.program.weights]
        self.bias = [int(x) for x in self.program.bias]
        self.n_neurons = self.program.n_neurons
        self.n_groups = self.config.groups(self.n_neurons)
        self.reset_state()

    def reset_state(self) -> None:
        """Membranes to 0, as at the start of an inference."""
        self.v = [0] * self.n_neurons

    def start(self) -> None:
        """START phase: discontinuous integration restarts every membrane at 0."""
        if self.program.integration == "discontinuous":
            self.v = [0] * self.n_neurons

    def merge(self, psums: list[int] | None) -> None:
        """MERGE phase (chip-spec §2.2 step 1b): add the partial-sum buffer, one saturating add per neuron.

        ``psums`` is the core's ``N``-word partial-sum buffer (None: all 0, no packet arrived).
        """
        if psums is None:
            return  # adding 0 to a v_bits value leaves it unchanged
        bits = self.config.v_bits
        for j in range(self.n_neurons):
            self.v[j] = saturate(self.v[j] + psums[j], bits)

    def integrate(self, spiking_axons: list[int], t: int = 0) -> None:
        """INTEGRATE phase: add the weight row of each spiking axon, ascending, saturating per add.

        ``t`` (the timestep) does not matter to a digital core; other core types may use it.
        """
        bits = self.config.v_bits
        for a in sorted(spiking_axons):
            row = self.w[a]
            for j in range(self.n_neurons):
                self.v[j] = saturate(self.v[j] + row[j], bits)

    def update(self) -> list[int]:
        """UPDATE phase: bias, leak, compare, fire, reset. Returns the spiking neurons, ascending."""
        p, bits = self.program, self.config.v_bits
        spikes = []
        for j in range(self.n_neurons):
            v = saturate(self.v[j] + self.bias[j], bits)
            v = leak(v, p.leak_shift)
            if p.fire and v >= self.threshold:
                spikes.append(j)
                v = v - self.threshold if p.reset == "subtract" else 0
            self.v[j] = v
        return spikes

    def step(self, spiking_axons: list[int], t: int = 0,
             psums: list[int] | None = None) -> tuple[list[int], dict[str, int]]:
        """Timestep ``t``: START, MERGE (receivers only), INTEGRATE, UPDATE.

        Args:
            spiking_axons: The input-spike buffer of this timestep.
            t: The timestep.
            psums: The partial-sum buffer of this timestep (``N`` words; None means all 0). Used only
                by a partial-sum receiver; other cores have no MERGE phase.

        Returns:
            (spiking neurons ascending, this core's activity counters).
        """
        self.start()
        if self.psum_receiver:
            self.merge(psums)
        self.integrate(spiking_axons, t)
        spikes = self.update()
        return spikes, self.activity(len(spiking_axons), spikes)

    def partial_sums(self) -> list[tuple[int, int]]:
        """EMIT of a partial-sum core (chip-spec §2.2 step 4): ``(j, v[j])`` of each nonzero membrane, ascending ``j``.

        A zero partial sum adds nothing at the receiver, so it is not sent (zero-skipping).
        """
        return [(j, v) for j, v in enumerate(self.v) if v != 0]

    def activity(self, n_spk: int, spikes: list[int]) -> dict[str, int]:
        """Activity counters of a timestep with ``n_spk`` spiking axons (chip-spec §2.4-2.5)."""
        counters = {
            "axon_events": n_spk,
            "sram_word_reads": n_spk * self.n_groups,
            "synaptic_ops": n_spk * self.n_neurons,
            "neuron_updates": self.n_neurons,
            "output_spikes": len(spikes),
            "cycles": core_cycles(n_spk, self.n_groups, self.psum_receiver),
        }
        return counters
