"""Chip area from the RTL: Yosys synthesis to NAND2-equivalent gates, memories in bits, a sourced area table.

See docs/area.md. :func:`~hwsim.area.model.chip_area` synthesises a chip config's core and chip
level (cached per module and parameters), :func:`~hwsim.area.table.load_area_table` reads
``hwsim/area/tables/<technology>.toml``.
"""
