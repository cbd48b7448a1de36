"""The README stays true: its Python example runs and its links point at files that exist."""

import re
import warnings
from pathlib import Path

import pytest

from mapping import DRCWarning

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one Python example"
    namespace: dict = {}
    with warnings.catch_warnings():
        # the README says that map_network warns about the bundled network's 12-bit membranes
        warnings.simplefilter("ignore", DRCWarning)
        exec(compile(blocks[0], "README.md", "exec"), namespace)
    # the numbers the README quotes for the demo come out of the same run
    assert f"{namespace['accuracy']:.2%}" == "97.77%"
    assert f"{namespace['energy'].energy_nj_per_image:.2f}" == "24.33"


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)\)", README))))
def test_linked_files_exist(target):
    assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"
