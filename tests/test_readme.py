"""The README stays true: its Python example runs and its links point at files that exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_example_runs():
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
