"""Mutation testing of rtl/ (``make mutate``): operators in ``verilog``, the run and its report in ``mutate``."""

from .mutate import main

__all__ = ["main"]
