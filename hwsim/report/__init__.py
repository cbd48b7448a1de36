"""Reports: accuracy, energy, latency and activity of a chip program on a dataset.

The pipeline is plain data all the way::

    evaluate(program, images, labels, timesteps=...)  -> Report      # simulate + compute every number
    report.to_dict()                                   -> dict        # what report.json holds
    render_table(report_dict)                          -> str         # markdown summary, no arithmetic
    render_figures(report_dict, folder)                -> PNG files   # matplotlib, no arithmetic
    write_report(report, outdir)                       -> outdir      # all of the above, atomically

One job per module:

- :mod:`hwsim.report.model`: the report data (:class:`Report`, :func:`build_report`, firing rates, rasters);
- :mod:`hwsim.report.backend`: which simulator and energy model a program's core type takes (chosen once);
- :mod:`hwsim.report.evaluation`: encoding, simulating and sweeping (:func:`evaluate`);
- :mod:`hwsim.report.summary`: what a report keeps of a run, per image (:class:`RunSummary`), so runs are
  summarized chunk by chunk and memory does not grow with their per-timestep arrays;
- :mod:`hwsim.report.render`: the table, the CSV files and the output folder (:func:`write_report`);
- :mod:`hwsim.report.figures`: the PNG figures (:func:`render_figures`).

Output folders are checked and replaced as a whole by :mod:`hwsim.outdir`.

Numbers are computed in :func:`build_report` (and :mod:`hwsim.energy`), never
in the renderers, so ``report.json`` and the figures always agree.

Files written into the output folder (fixed names): ``report.json``,
``report.csv`` (long format: section, key, value, unit), ``images.csv``
(one row per image), ``report.md`` (the terminal table),
``energy_breakdown.png``, ``timesteps.png`` (only with a timestep sweep), ``raster.png``,
``exit_frontier.png`` (only with early exit) and ``area_breakdown.png`` (only with a stored synthesis of the
chip, :mod:`hwsim.report.area_figure`).
"""

from hwsim.report.backend import energy_of
from hwsim.report.evaluation import default_sweep, evaluate
from hwsim.report.figures import FIGURE_FILES, render_figures
from hwsim.report.model import Report, ReportError, SweepPoint, build_report, layer_firing_rates, raster_layers
from hwsim.report.render import REPORT_FILES, REPORT_MARKER, render_table, write_report

__all__ = [
    "REPORT_FILES",
    "REPORT_MARKER",
    "FIGURE_FILES",
    "Report",
    "SweepPoint",
    "ReportError",
    "build_report",
    "energy_of",
    "evaluate",
    "layer_firing_rates",
    "raster_layers",
    "render_table",
    "render_figures",
    "write_report",
    "default_sweep",
]
