"""The README stays true: its Python example runs and its links point at files that exist.

These are consistency checks, not independent references: the numbers the README quotes are compared with
what the code computes today (so a change that alters a documented number fails here until the README is
updated), not with values derived another way. The numbers themselves are checked independently elsewhere
(tests/hwsim/test_cli_run.py: the demo's accuracy against a layer-by-layer simulation, a run's energy by hand).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_example_runs_and_matches_the_quoted_numbers():
    """Consistency check: the example runs, and the accuracy and energy the README quotes are its output."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one Python example"
    namespace: dict = {}
    # no warning either (pytest turns warnings into errors here): the bundled network's 12-bit
    # membranes cannot saturate, so mapping it onto the 16-bit default chip is exact
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    # the accuracy and energy the README quotes from `make demo` are those of the same run
    quoted_accuracy = re.search(r"^\| accuracy +\| ([\d.]+) % \|", README, flags=re.M).group(1)
    quoted_energy = re.search(r"^\| energy / image +\| ([\d.]+) nJ", README, flags=re.M).group(1)
    assert f"{100 * namespace['accuracy']:.2f}" == quoted_accuracy
    assert f"{namespace['energy'].energy_nj_per_image:.2f}" == quoted_energy


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)\)", README))))
def test_linked_files_exist(target):
    assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"
