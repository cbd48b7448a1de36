"""Subcommands of the ``hwsim`` CLI; see :mod:`hwsim.cli`."""
