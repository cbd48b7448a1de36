"""Yosys synthesis of one RTL module to generic gates, counted per module and cell type.

One run synthesises one top module with given Verilog parameters, keeping the hierarchy
(no flattening), with the memories (weight SRAM, register files, partial-sum buffer) read as
black boxes: their area is counted in bits by :mod:`hwsim.area.model`, not in gates.

The flow (Yosys 0.23, Debian's ``yosys``)::

    read_verilog -lib <memories>            # black boxes
    read_verilog -defer <logic modules>
    hierarchy -top TOP -chparam P V ...     # the chip config's HDL parameters
    proc; write_json params.json            # each derived module's parameter values
    synth -top TOP -noabc                   # generic synthesis, no technology mapping yet
    dfflegalize -cell $_DFF_P_ 01           # enables and synchronous resets become logic
    abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX,AOI3,OAI3,AOI4,OAI4
    opt_clean; stat -json

The result of a run is a pure function of the RTL sources (names and contents, not their folder),
the parameters, the script and the Yosys version, so it is cached under that key (:func:`cache_key`;
in ``$HWSIM_AREA_CACHE``, else ``$XDG_CACHE_HOME/hwsim/area``, else ``~/.cache/hwsim/area``; never in
the repository).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import ConfigError
from hwsim.writers import atomic_write_bytes

__all__ = [
    "RTL_DIR",
    "MEMORY_MODULES",
    "GATE_LIBRARY",
    "ModuleGates",
    "SynthesisError",
    "yosys_executable",
    "yosys_version",
    "synthesize",
    "cache_dir",
    "cache_key",
    "rtl_digest",
]

RTL_DIR = Path(os.environ.get("HWSIM_RTL_DIR", Path(__file__).resolve().parents[2] / "rtl"))
# Storage read as black boxes and counted in bits (docs/area.md, "Memories").
MEMORY_MODULES = ("snn_weight_sram", "snn_group_rf", "snn_psum_buf")
# The gate set ABC maps to; hwsim/area/tables/*.toml gives each a NAND2-equivalent weight.
GATE_LIBRARY = "AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX,AOI3,OAI3,AOI4,OAI4"
# Bumped whenever the script below changes meaning (part of the cache key).
_FLOW_VERSION = 1
_TIMEOUT_S = 3600


class SynthesisError(ConfigError):
    """Yosys is missing, fails on a module, or produces output the flow cannot read."""


@dataclass(frozen=True)
class ModuleGates:
    """One synthesised module (one parameter set) of a design.

    Attributes:
        name: Yosys' module name (``$paramod$<hash>\\snn_lane_acc`` for a derived module).
        base: The Verilog module name (``snn_lane_acc``).
        params: Its Verilog parameter values.
        cells: Gate and flip-flop counts by Yosys cell type (``$_NAND_``, ``$_DFF_P_``, ...), this module only.
        children: Instances of other modules in it, by module name (submodules and black boxes).
    """

    name: str
    base: str
    params: dict[str, int]
    cells: dict[str, int]
    children: dict[str, int]

    def to_dict(self) -> dict:
        return {"name": self.name, "base": self.base, "params": self.params, "cells": self.cells,
                "children": self.children}

    @classmethod
    def from_dict(cls, data: dict) -> ModuleGates:
        return cls(name=data["name"], base=data["base"], params=dict(data["params"]), cells=dict(data["cells"]),
                   children=dict(data["children"]))


def yosys_executable() -> str:
    """Path of ``yosys``; :class:`SynthesisError` with the install line when it is not on PATH."""
    exe = shutil.which("yosys")
    if exe is None:
        raise SynthesisError("yosys is not on PATH: area synthesis needs it (Debian: apt-get install yosys)")
    return exe


def yosys_version() -> str:
    """First line of ``yosys -V``, e.g. ``Yosys 0.23 (git sha1 7ce5011c24b)``."""
    out = subprocess.run([yosys_executable(), "-V"], capture_output=True, text=True, check=False, timeout=60)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def cache_dir() -> Path:
    """Where synthesis results are kept between runs (outside the repository)."""
    if os.environ.get("HWSIM_AREA_CACHE"):
        return Path(os.environ["HWSIM_AREA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hwsim" / "area"


def _sources(rtl_dir: Path, black_boxes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    files = sorted(rtl_dir.glob("snn_*.v"))
    if not files:
        raise SynthesisError(f"no RTL sources snn_*.v in {rtl_dir}")
    boxed = [f for f in files if f.stem in black_boxes]
    logic = [f for f in files if f.stem not in black_boxes]
    return logic, boxed


def _script(top: str, params: dict[str, int], logic: list[Path], memories: list[Path]) -> str:
    chparams = " ".join(f"-chparam {k} {int(v)}" for k, v in sorted(params.items()))
    return "\n".join([
        "read_verilog -lib " + " ".join(str(f) for f in memories),
        "read_verilog -defer " + " ".join(str(f) for f in logic),
        f"hierarchy -top {top} {chparams}".rstrip(),
        "proc",
        "write_json params.json",
        f"synth -top {top} -noabc",
        "dfflegalize -cell $_DFF_P_ 01",
        f"abc -g {GATE_LIBRARY}",
        "opt_clean",
        "tee -q -o stat.json stat -json",
        "",
    ])


def _int_param(value: object) -> int:
    """A parameter value from Yosys' JSON: a binary string (32 bits for a Verilog integer) or an int."""
    if isinstance(value, int):
        return value
    text = str(value)
    if re.fullmatch(r"[01]+", text):
        number = int(text, 2)
        if len(text) == 32 and number >= 1 << 31:  # signed integer parameter
            number -= 1 << 32
        return number
    raise SynthesisError(f"Yosys parameter value {text!r} is not a number")


def _read_stat(text: str) -> dict:
    """``stat -json`` output. Yosys 0.23 also prints the text hierarchy into it; those lines are dropped."""
    lines = [line for line in text.splitlines() if line.strip()[:1] in ("{", "}", '"', "]", "[")]
    try:
        return json.loads("\n".join(lines))
    except json.JSONDecodeError as exc:
        raise SynthesisError(f"cannot read Yosys' stat -json output: {exc}") from None


def _plain(name: str) -> str:
    """A Yosys module name without the escape of a plain identifier (``\\snn_core`` -> ``snn_core``)."""
    return name[1:] if name.startswith("\\") else name


def _parse(stat: dict, params_json: dict, black_boxes: tuple[str, ...]) -> list[ModuleGates]:
    modules = []
    param_modules = {_plain(k): v for k, v in params_json.get("modules", {}).items()}
    for raw_name, entry in stat.get("modules", {}).items():
        name = _plain(raw_name)
        base = name.rsplit("\\", 1)[-1]
        if base in black_boxes:
            continue
        raw = param_modules.get(name, {}).get("parameter_default_values", {})
        params = {k: _int_param(v) for k, v in sorted(raw.items())}
        cells: dict[str, int] = {}
        children: dict[str, int] = {}
        for cell, count in entry.get("num_cells_by_type", {}).items():
            if cell.startswith("$_"):
                cells[cell] = int(count)
            else:
                children[_plain(cell)] = int(count)
        modules.append(ModuleGates(name=name, base=base, params=params, cells=cells, children=children))
    return sorted(modules, key=lambda m: (m.base, m.name))


def rtl_digest(rtl_dir: Path | None = None) -> str:
    """SHA-256 of the RTL sources (names and contents of ``rtl/snn_*.v``): which RTL a stored result is of."""
    digest = hashlib.sha256()
    for src in sorted(Path(rtl_dir or RTL_DIR).glob("snn_*.v")):
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    return digest.hexdigest()


def cache_key(top: str, params: dict[str, int], *, black_boxes: tuple[str, ...] = (), rtl_dir: Path | None = None,
              yosys: str) -> str:
    """The cache key of one synthesis run: a hash of what its result depends on, and of nothing else.

    That is the flow (:data:`_FLOW_VERSION` and the script with the sources by file name, not by path),
    the Yosys version ``yosys``, the parameters, and each RTL source's file name and contents: a
    checkout in another folder (or machine) finds the same entries; an edited source misses them.
    """
    rtl_dir = Path(rtl_dir or RTL_DIR)
    black_boxes = tuple(sorted(set(MEMORY_MODULES) | set(black_boxes)))
    logic, memories = _sources(rtl_dir, black_boxes)
    script = _script(top, params, [Path(f.name) for f in logic], [Path(f.name) for f in memories])
    digest = hashlib.sha256(f"{_FLOW_VERSION}\0{yosys}\0{script}".encode())
    for src in logic + memories:
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    return digest.hexdigest()[:32]


def synthesize(top: str, params: dict[str, int], *, black_boxes: tuple[str, ...] = (),
               rtl_dir: Path | None = None, use_cache: bool = True,
               cache_only: bool = False) -> list[ModuleGates] | None:
    """Synthesise ``top`` with ``params``; every module of its hierarchy with its gate counts.

    The memories (:data:`MEMORY_MODULES`) and the modules named in ``black_boxes`` are read as black
    boxes: they appear as children of the modules that instantiate them, without gates of their own.
    With ``cache_only``, nothing is synthesised: the cached result, or None (also when Yosys is missing).

    Raises:
        SynthesisError: Yosys is missing or fails (the message ends with its last log lines).
    """
    rtl_dir = Path(rtl_dir or RTL_DIR)
    black_boxes = tuple(sorted(set(MEMORY_MODULES) | set(black_boxes)))
    logic, memories = _sources(rtl_dir, black_boxes)
    script = _script(top, params, logic, memories)
    if cache_only and shutil.which("yosys") is None:
        return None
    version = yosys_version()
    key = cache_key(top, params, black_boxes=black_boxes, rtl_dir=rtl_dir, yosys=version)
    cached = cache_dir() / f"{top}-{key}.json"
    if use_cache and cached.is_file():
        try:
            return [ModuleGates.from_dict(m) for m in json.loads(cached.read_text())["modules"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is synthesised again and replaced
    if cache_only:
        return None
    with tempfile.TemporaryDirectory(prefix="hwsim-area-") as tmp:
        work = Path(tmp)
        (work / "flow.ys").write_text(script)
        try:
            run = subprocess.run([yosys_executable(), "-q", "-l", "yosys.log", "flow.ys"], cwd=work,
                                 capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"yosys took more than {_TIMEOUT_S} s on {top} {params}") from None
        if run.returncode != 0 or not (work / "stat.json").is_file():
            log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").is_file() else ""
            tail = " | ".join((log or run.stderr or run.stdout).strip().splitlines()[-5:])
            raise SynthesisError(f"yosys failed on {top} {params} (exit {run.returncode}): {tail}")
        modules = _parse(_read_stat((work / "stat.json").read_text()),
                         json.loads((work / "params.json").read_text()), black_boxes)
    if use_cache:
        record = {"top": top, "params": params, "yosys": version, "modules": [m.to_dict() for m in modules]}
        try:
            atomic_write_bytes(cached, json.dumps(record, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # no writable cache: the result is still returned
    return modules
