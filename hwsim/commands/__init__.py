"""Subcommands of the ``hwsim`` CLI; see :mod:`hwsim.cli`.

Naming rule: a command module is named after its subcommand (``hwsim run`` -> ``run.py``, ``hwsim report``
-> ``report.py``, ``hwsim yield`` -> ``yield_.py``, as ``yield`` is a Python keyword); code shared by several
commands lives in ``common.py``. Everywhere else a module is named after the stage whose output it makes,
never after a generic word: the mapper's summary files are :mod:`mapping.summary`, the simulation report is
the package :mod:`hwsim.report`, output folders are :mod:`hwsim.outdir`. So ``report.py`` here means the
``hwsim report`` command and nothing else.

A command module only parses, validates, calls, writes and prints: ``add_arguments(parser)`` declares its
options and ``run(args) -> int`` checks every option before any work, calls the library (e.g.
:func:`hwsim.report.evaluate`, :func:`hwsim.rram.yield_study.run_yield_study`), writes the output folder
and prints the summary. A pipeline longer than that belongs in the library, where the Python API can call it.
"""

__all__: list[str] = []
