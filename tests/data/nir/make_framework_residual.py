"""Export a small residual SNN built in snnTorch with a real NIR exporter, and store it with the framework's own
output spikes for hwsim's tests (tests/mapping/test_nir_graphs.py).

NOT collected by pytest and NOT run by `make test`: it needs PyTorch, snnTorch and nirtorch. Run it by hand, from
the repository root, in the framework venv of make_framework_conv.py (torch 2.13.0+cpu, nir 1.0.8, nirtorch 2.6,
snnTorch 1.0.0):

    OMP_NUM_THREADS=1 /work/coord/fwvenv/bin/python tests/data/nir/make_framework_residual.py

Why not snnTorch's own ``export_to_nir``: in snnTorch 1.0.0 (and Norse 1.1.0's ``to_nir``) it uses nirtorch's old
``extract_nir_graph``, which silently drops a residual add: for ``lif2(fc2(lif1(fc1(x))) + skip(x))`` it writes
``input -> fc1 -> lif1 -> fc2 -> output`` (no ``skip``, no ``lif2``). nirtorch 2.6's ``torch_to_nir`` (torch.fx)
traces the add and writes it as NIR does, two edges into ``lif2``; the nodes are converted by snnTorch's own
``_extract_snntorch_module``, the function ``export_to_nir`` uses per module.

The network is chosen so that the framework's float arithmetic equals the chip's integers exactly: integer
weights and biases, ``Leaky(beta=0, reset_mechanism="none")`` (the membrane is this step's input: exported as LIF
with tau = dt, r = 1, a discontinuous core on the chip), thresholds 0.5 (fires when the integer input >= 1).

Files written to tests/data/nir/:
    snntorch_residual.nir   the graph (input and output types filled in; nothing else edited)
    snntorch_residual.npz   rasters (B, T, 6) uint8 and the framework's output spikes (B, T, 4) uint8
"""

from __future__ import annotations

from pathlib import Path

import nir
import nirtorch
import numpy as np
import snntorch
import snntorch.utils
import torch
from snntorch.export_nir import _extract_snntorch_module

OUT = Path(__file__).resolve().parent
N_IN, N_HID, N_OUT, T, B = 6, 8, 4, 6, 16


class Residual(torch.nn.Module):
    """lif2(fc2(lif1(fc1(x))) + skip(x)): a hidden layer and a skip from the input, summed into the output."""

    def __init__(self) -> None:
        super().__init__()

        def leaky(n: int) -> snntorch.Leaky:
            return snntorch.Leaky(beta=torch.zeros(n), threshold=torch.full((n,), 0.5), reset_mechanism="none",
                                  init_hidden=True)

        self.fc1, self.lif1 = torch.nn.Linear(N_IN, N_HID), leaky(N_HID)
        self.fc2, self.skip = torch.nn.Linear(N_HID, N_OUT), torch.nn.Linear(N_IN, N_OUT)
        self.lif2 = leaky(N_OUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.fc2(self.lif1(self.fc1(x))) + self.skip(x))


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = Residual()
    with torch.no_grad():
        for fc in (net.fc1, net.fc2, net.skip):
            fc.weight.copy_(torch.from_numpy(rng.integers(-2, 3, size=tuple(fc.weight.shape)).astype(np.float32)))
            fc.bias.copy_(torch.from_numpy(rng.integers(-1, 2, size=tuple(fc.bias.shape)).astype(np.float32)))
    graph = nirtorch.torch_to_nir(
        net, {snntorch.Leaky: _extract_snntorch_module, torch.nn.Linear: _extract_snntorch_module}, type_check=False
    )
    # torch_to_nir leaves the Input and Output types None, which nir.write cannot store
    for key, node in list(graph.nodes.items()):
        if isinstance(node, nir.Input):
            graph.nodes[key] = nir.Input(input_type={"input": np.array([N_IN])})
        elif isinstance(node, nir.Output):
            graph.nodes[key] = nir.Output(output_type={"output": np.array([N_OUT])})
    print({k: type(n).__name__ for k, n in graph.nodes.items()}, graph.edges)
    nir.write(OUT / "snntorch_residual.nir", graph)
    rasters = (rng.random((B, T, N_IN)) < 0.5).astype(np.uint8)
    spikes = np.zeros((B, T, N_OUT), np.uint8)
    with torch.no_grad():
        for b in range(B):
            snntorch.utils.reset(net)
            for t in range(T):
                spikes[b, t] = net(torch.from_numpy(rasters[b, t : t + 1].astype(np.float32)))[0].numpy()
    np.savez(OUT / "snntorch_residual.npz", rasters=rasters, spikes=spikes)
    print("output spikes:", int(spikes.sum()), "of", spikes.size)


if __name__ == "__main__":
    main()
