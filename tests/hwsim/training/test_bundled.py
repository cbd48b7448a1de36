"""``python -m hwsim.training.bundled``: retrains into an output folder (never the packaged file unless asked)
and says how the result compares with the bundled network."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from hwsim.network import Network
from hwsim.training import bundled
from hwsim.training.bundled import default_network_path, load_default_network, main


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_retraining_writes_to_an_output_folder_and_reports_identical_integers(tmp_path, monkeypatch, capsys):
    # Catches: the command rewriting hwsim/data/digits_default.npz in the source tree by default (issue 12 §5),
    # writing somewhere other than the stated default, or writing something else than what it trained.
    # The training itself is replaced by a fresh load of the bundled network: that the recipe reproduces the
    # bundled integers is tested (by really training) in test_training.py.
    packaged = _digest(default_network_path())
    monkeypatch.setattr(bundled, "train_default_network", lambda **kw: load_default_network())
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "hwsim-bundled" / "digits_default.npz"
    assert written.is_file()
    assert _digest(default_network_path()) == packaged  # the packaged file is untouched
    retrained, shipped = Network.load(written), load_default_network()
    for a, b in zip(retrained.layers, shipped.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert "layer 0 (hidden0): identical to the bundled file" in out
    assert "layer 1 (output): identical to the bundled file" in out


def test_comparison_counts_what_differs(tmp_path, monkeypatch, capsys):
    # A "retrained" network with three weights and one bias changed and another threshold in layer 0: the
    # report must count exactly those. Catches: a comparison that says "identical" whatever the numbers.
    shipped = load_default_network()
    layer = shipped.layers[0]
    weights, bias = layer.weights.copy(), layer.bias.copy()
    weights[0, :3] += 1
    bias[5] -= 1
    changed = dataclasses.replace(layer, weights=weights, bias=bias, threshold=layer.threshold + 1)
    fake = Network(layers=[changed, shipped.layers[1]], metadata=dict(shipped.metadata))
    monkeypatch.setattr(bundled, "train_default_network", lambda **kw: fake)
    target = tmp_path / "elsewhere" / "net.npz"
    assert main(["-o", str(target)]) == 0
    out = capsys.readouterr().out
    assert target.is_file() and not (tmp_path / "hwsim-bundled").exists()
    assert (f"layer 0 (hidden0): 3 of {weights.size} weights and 1 of {bias.size} biases differ; "
            f"threshold {layer.threshold + 1} (bundled {layer.threshold})") in out
    assert "layer 1 (output): identical to the bundled file" in out
