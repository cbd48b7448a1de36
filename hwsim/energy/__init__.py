"""Energy and latency model: action counts x per-action energies from a technology table.

Usage::

    from hwsim.energy import load_table, estimate
    report = estimate(result, program, load_table("28nm"))
    report.energy_nj_per_image, report.pj_per_sop, report.by_layer

Tables live in ``hwsim/energy/tables/<technology>.toml``; see ``docs/energy.md``.
``python -m hwsim.energy.calibrate`` fits the table on Yin et al. and predicts ODIN (and the reverse);
``python -m hwsim.commands.calibrate_energy`` reproduces the Yin calibration alone. Both map and simulate
networks, so neither is imported by this pricing layer.
"""

from hwsim.energy.model import (
    CORE_ACTIONS,
    EXIT_ACTIONS,
    EXIT_COMPONENT,
    EXIT_LAYER,
    HOST_ACTIONS,
    MESH_ACTIONS,
    MESH_LAYER,
    PSUM_ACTIONS,
    PSUM_RECEIVERS,
    PSUM_SENDERS,
    PSUM_STATIC_ACTIONS,
    STATIC_ACTIONS,
    ActionCounts,
    EnergyReport,
    action_counts,
    core_storage_bits,
    describe_action,
    describe_exit_action,
    describe_mesh_action,
    describe_psum_action,
    estimate,
    exit_action_counts,
    layer_name,
    mesh_action_counts,
    psum_buffer_bits,
)
from hwsim.energy.table import EnergyTable, EnergyTableError, TableEntry, load_table, table_names

__all__ = [
    "CORE_ACTIONS",
    "EXIT_ACTIONS",
    "EXIT_COMPONENT",
    "EXIT_LAYER",
    "HOST_ACTIONS",
    "MESH_ACTIONS",
    "MESH_LAYER",
    "PSUM_ACTIONS",
    "PSUM_RECEIVERS",
    "PSUM_SENDERS",
    "PSUM_STATIC_ACTIONS",
    "STATIC_ACTIONS",
    "ActionCounts",
    "EnergyReport",
    "EnergyTable",
    "EnergyTableError",
    "TableEntry",
    "action_counts",
    "core_storage_bits",
    "describe_action",
    "describe_exit_action",
    "describe_mesh_action",
    "describe_psum_action",
    "estimate",
    "exit_action_counts",
    "layer_name",
    "mesh_action_counts",
    "load_table",
    "psum_buffer_bits",
    "table_names",
]
