"""The energy model's action counts are defined once; the pricing layer does not run the chip or the mapper."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


from hwsim.energy import (
    CORE_ACTIONS,
    EXIT_ACTIONS,
    PSUM_ACTIONS,
    PSUM_RECEIVERS,
    PSUM_SENDERS,
    describe_action,
    describe_exit_action,
    describe_psum_action,
)

ROOT = Path(__file__).resolve().parents[2]


def test_action_count_formulas_read_as_written_by_hand():
    # the counts of docs/energy.md §1, written out by hand
    assert describe_action(("core.weight_sram", "read_bit")) == "sram_word_reads * lanes * w_bits"
    assert describe_action(("core.membrane_rf", "access_bit")) == (
        "2 * sram_word_reads * lanes * v_bits + 3 * neuron_updates * v_bits"
    )
    assert describe_action(("core.spike_buffer", "scan_axon")) == "axon_events"


def test_docs_table_equals_the_one_definition():
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z._]+/[a-z_]+)` \| `([^`|]+)`", text, flags=re.MULTILINE))
    for key in CORE_ACTIONS:
        name = f"{key[0]}/{key[1]}"
        assert name in rows, f"docs/energy.md §1 has no row for {name}"
        assert rows[name] == describe_action(key), name


def test_docs_partial_sum_table_equals_the_one_definition():
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    section = text.split("### 2.1 Partial sums", 1)[1].split("\n## ", 1)[0]
    rows = {name: (count, cores) for name, count, cores in
            re.findall(r"^\| `([a-z._]+/[a-z_]+)` \| `([^`|]+)` \| ([a-z ]+) \|", section, flags=re.MULTILINE)}
    role = {PSUM_SENDERS: "senders", PSUM_RECEIVERS: "receivers"}
    assert len(rows) == len(PSUM_ACTIONS)
    for key, (who, _) in PSUM_ACTIONS.items():
        name = f"{key[0]}/{key[1]}"
        assert rows.get(name) == (describe_psum_action(key), role[who]), name
    # written by hand: the payload is priced per bit, the MERGE per receiver neuron
    assert describe_psum_action(("noc.link", "psum_payload_bit")) == "hops * v_bits"
    assert describe_psum_action(("core.membrane_rf", "merge_access_bit")) == "2 * neuron_updates * v_bits"


def test_docs_exit_table_equals_the_one_definition():
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    section = text.split("### 2.2 Early exit", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z._]+/[a-z_]+)` \| `([^`|]+)` \|", section, flags=re.MULTILINE))
    assert len(rows) == len(EXIT_ACTIONS)
    for key in EXIT_ACTIONS:
        name = f"{key[0]}/{key[1]}"
        assert rows.get(name) == describe_exit_action(key), name


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout.strip()


def test_pricing_layer_imports_neither_the_chip_nor_the_mapper():
    loaded = _run("import sys, hwsim.energy; "
                  "print(sorted(m for m in ('mapping', 'hwsim.chip', 'hwsim.golden') if m in sys.modules))")
    assert loaded == "[]"
    # hwsim.energy.calibrate (the cross-validation entry point, issue 16) is only loaded when asked for
    assert _run("import sys, hwsim.energy; print('hwsim.energy.calibrate' in sys.modules)") == "False"


def test_calibration_command_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "hwsim.commands.calibrate_energy", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m hwsim.commands.calibrate_energy")
    assert "--write" in out.stdout and "Yin et al." in out.stdout


def test_cross_validation_command_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "hwsim.energy.calibrate", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m hwsim.energy.calibrate")
    assert "--yin-only" in out.stdout
