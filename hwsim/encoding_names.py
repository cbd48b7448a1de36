"""Names of the input codings (chip-spec §3), importable without NumPy so that command-line parsers
(``hwsim report --help``) can list them without loading :mod:`hwsim.encoding`."""

__all__ = ["ENCODINGS"]

ENCODINGS = ("rate", "threshold", "latency", "regular")
