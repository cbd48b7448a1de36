"""``python -m hwsim.energy.calibrate``: fit the energy table on one published chip, predict another.

Fits the table's one ``global_scale`` on Yin et al.'s two figures (the workloads of docs/energy.md §4) and
predicts ODIN's published figures on the ``odin_28nm`` preset with no refit; then the reverse (fit on ODIN,
predict Yin). Prints the fits, the held-out predictions and their errors (docs/energy.md §11).

It maps and simulates networks, so the work is done in :mod:`hwsim.commands.calibrate_energy` (the pricing
layer :mod:`hwsim.energy` does not import the simulator); ``python -m hwsim.commands.calibrate_energy`` still
prints the Yin calibration alone, and ``--yin-only`` here does the same.
"""

from __future__ import annotations

import sys

from hwsim.commands.calibrate_energy import crossval_main as main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
