"""Output folders never cost an input (issue 12 §1): refused before any work when an input lies inside the
folder a command replaces; SIGTERM cleans up like SIGINT; leftovers of killed runs are removed next time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hwsim.config
from hwsim.cli import main
from hwsim.config import load_chip_config
from hwsim.outdir import atomic_outdir, remove_stale_temps
from hwsim.testing import random_network


@pytest.fixture
def digits_net(tmp_path):
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(9), [64, 16, 10], core, threshold=40)
    net.metadata.update({"timesteps": 2, "encoding": "rate"})
    return net


QUICK = ["--limit", "3", "--sweep", "none", "--no-figures"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(capsys, argv, input_path, outdir):
    """Exit 2, one line naming the input and the folder, printed before any work (no progress message)."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert "lies inside the output folder" in err
    assert os.path.realpath(input_path) in err and os.path.realpath(outdir) in err


def test_report_of_the_program_inside_its_own_run_folder_is_refused(tmp_path, capsys, digits_net):
    """The reported bug: 'hwsim run -o out' then 'hwsim report out/program.npz -o out' deleted the program."""
    net = digits_net.save(tmp_path / "net.npz")
    out = tmp_path / "out"
    assert main(["run", "--net", str(net), *QUICK, "-q", "-o", str(out)]) == 0
    capsys.readouterr()
    before = snapshot(out)
    assert "program.npz" in before
    assert_refused(capsys, ["report", str(out / "program.npz"), *QUICK, "-o", str(out)], out / "program.npz", out)
    assert snapshot(out) == before


def test_run_with_a_network_inside_the_output_folder_is_refused(tmp_path, capsys, digits_net):
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "report.json").write_text("{}")  # an earlier report: the folder would be replaced
    net = digits_net.save(prev / "net.npz")
    before = snapshot(prev)
    assert_refused(capsys, ["run", "--net", str(net), *QUICK, "-o", str(prev)], net, prev)
    assert snapshot(prev) == before


def test_inputs_reached_through_symlinks_are_caught(tmp_path, capsys, digits_net):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    net = digits_net.save(out / "net.npz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "link.npz").symlink_to(net)  # the input named by a link outside the folder
    assert_refused(capsys, ["run", "--net", str(elsewhere / "link.npz"), *QUICK, "-o", str(out)], net, out)
    (tmp_path / "out-link").symlink_to(out, target_is_directory=True)  # the folder named by a link
    assert_refused(capsys, ["run", "--net", str(net), *QUICK, "-o", str(tmp_path / "out-link")], net, out)
    assert (out / "net.npz").exists() and (out / "report.json").read_text() == "{}"


def test_yield_map_and_chip_files_inside_the_output_folder_are_refused(tmp_path, capsys, digits_net):
    study = tmp_path / "study"
    study.mkdir()
    (study / "yield.json").write_text("{}")
    net = digits_net.save(study / "net.npz")
    assert_refused(capsys, ["yield", "--net", str(net), "--instances", "1", "-o", str(study)], net, study)

    mapped = tmp_path / "mapped"
    mapped.mkdir()
    (mapped / "mapping.json").write_text("{}")
    net2 = digits_net.save(mapped / "net.npz")
    assert_refused(capsys, ["map", str(net2), "-o", str(mapped)], net2, mapped)
    outside = digits_net.save(tmp_path / "net.npz")
    np.save(mapped / "rates.npy", np.ones((2, 64), dtype=bool))
    assert_refused(capsys, ["map", str(outside), "--rates", str(mapped / "rates.npy"), "-o", str(mapped)],
                   mapped / "rates.npy", mapped)

    chip = tmp_path / "out" / "chip.toml"
    chip.parent.mkdir()
    (chip.parent / "report.json").write_text("{}")
    chip.write_bytes((Path(hwsim.config.__file__).parent / "configs" / "default_28nm.toml").read_bytes())
    assert_refused(capsys, ["run", "--net", str(outside), "--chip", str(chip), *QUICK, "-o", str(chip.parent)],
                   chip, chip.parent)
    for folder in (study, mapped, chip.parent):
        assert (folder / "net.npz").exists() or (folder / "chip.toml").exists()


def test_map_replaces_its_folder_as_a_whole(tmp_path, capsys, digits_net):
    """'hwsim map' writes its folder atomically like 'run': a mesh.png of an earlier mapping does not survive
    a --no-figure run, and a folder that is no earlier mapping is left alone."""
    net = digits_net.save(tmp_path / "net.npz")
    out = tmp_path / "prog"
    assert main(["map", str(net), "--rates", "uniform", "-o", str(out)]) == 0
    assert (out / "mesh.png").exists()
    assert main(["map", str(net), "--rates", "uniform", "--no-figure", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["mapping.json", "mapping.md", "program.npz"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    capsys.readouterr()
    assert main(["map", str(net), "-o", str(foreign)]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"


def test_train_validates_every_output_before_training(tmp_path, capsys):
    """'train -o out.npz --json DIR' used to write out.npz and then fail on the summary."""
    folder = tmp_path / "summary-folder"
    folder.mkdir()
    rc = main(["train", "--epochs", "1", "--no-progress", "-o", str(tmp_path / "out.npz"), "--json", str(folder)])
    err = capsys.readouterr().err
    assert rc == 2 and "--json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


SIGTERM_SCRIPT = """
import os, signal, sys
import hwsim.report.figures
from hwsim.cli import main

def terminated_while_drawing(data, folder):
    # the folder being written holds files already; the signal arrives in the middle of it
    assert any(os.scandir(folder))
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the writer")

hwsim.report.figures.render_figures = terminated_while_drawing
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_writing_removes_the_temporary_folder(tmp_path, digits_net):
    net = digits_net.save(tmp_path / "net.npz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"earlier": true}')  # an earlier report, to be kept as it was
    proc = subprocess.run(
        [sys.executable, "-c", SIGTERM_SCRIPT, "run", "--net", str(net), "--limit", "3", "--sweep", "none", "-q",
         "-o", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "hwsim run: terminated"
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz", "out"]  # no .out.tmp-* left
    assert json.loads((out / "report.json").read_text()) == {"earlier": True}


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_folders_of_killed_runs_are_removed_and_only_those(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    gone = dead_pid()
    names = {
        f".out.tmp-{gone}-abcd_123": True,  # ours, its process is gone: stale
        f".out.old-{gone}-zzzzzzzz": True,  # ours, moved-aside earlier output of a dead run while out exists
        f".out.tmp-{os.getpid()}-abcdefgh": False,  # a live process (this one) is still writing it
        f".other.tmp-{gone}-abcdefgh": False,  # another folder's
        ".out.tmp-abcdefgh": False,  # not our naming (no PID): never guessed at
        f".out.tmp-{gone}-abcdefghi": False,  # not exactly our naming
        f"out.tmp-{gone}-abcdefgh": False,  # not hidden: not ours
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text("{}")
    removed = remove_stale_temps(out)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out"] + [n for n, s in names.items() if not s])


def test_earlier_output_moved_aside_by_a_killed_run_is_put_back(tmp_path):
    """Killed between its two renames, a run leaves the earlier output only as .NAME.old-PID-*: restore it."""
    gone = dead_pid()
    aside = tmp_path / f".out.old-{gone}-abcdefgh"
    aside.mkdir()
    (aside / "report.json").write_text('{"earlier": true}')
    assert remove_stale_temps(tmp_path / "out") == []
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == {"earlier": True}
    assert not aside.exists()


def test_the_next_run_removes_stale_temporary_folders(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / f".out.tmp-{dead_pid()}-abcdefgh"
    stale.mkdir()
    with atomic_outdir(out, "report.json") as tmp:
        assert not stale.exists()
        assert tmp.name.startswith(f".out.tmp-{os.getpid()}-")
        (tmp / "report.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
