"""The varied-sparsity block RNN (SPEC §2).

``h_{t+1} = act(W_hx x_{t+1} + W_hh h_t + W_hy y_t + b_h)``
``y_{t+1} =     W_yx x_{t+1} + W_yh h_t + W_yy y_t + b_y``   (``readout="lagged"``, the paper's form)

With ``readout="current"`` the y-row reads the new hidden state h_{t+1} instead of h_t (the standard RNN
readout). The input blocks do not depend on the recurrence, so their products for every time step are
computed in one matrix multiply before the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from .masks import MaskedBlock, MaskMethod
from .spec import BLOCKS, BlockSpec, hidden_proportion

Readout = Literal["lagged", "current"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "identity": lambda t: t,
}
"""Activations available for the hidden row, by name."""


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Look up an activation by name (one-line ValueError listing the known names otherwise)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


class BlockRNN(nn.Module):
    """Block RNN with a fixed random mask per block, built from a :class:`BlockSpec`.

    ``model(x)`` maps ``(batch, T, dx)`` to the y-slot at every step, ``(batch, T, dy)``. The same seed gives
    the same masks and initial values on every device.
    """

    def __init__(
        self,
        spec: BlockSpec,
        seed: int = 0,
        readout: Readout = "lagged",
        activation: str = "relu",
        mask_method: MaskMethod = "exact",
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if readout not in ("lagged", "current"):
            raise ValueError(f"unknown readout {readout!r}; expected 'lagged' or 'current'")
        self.spec = spec
        self.seed = int(seed)
        self.readout: Readout = readout
        self.activation = activation
        self._act = get_activation(activation)
        self.mask_method: MaskMethod = mask_method
        gen = torch.Generator().manual_seed(self.seed)
        blocks = {}
        for name in BLOCKS:
            mean, std = spec.init[name]
            rows, cols = spec.shape(name)
            blocks[name] = MaskedBlock.random(rows, cols, spec.density[name], gen, mean, std, mask_method)
        self.blocks = nn.ModuleDict(blocks)
        self.bias = nn.Parameter(torch.zeros(spec.dh + spec.dy))
        if device is not None:
            self.to(device)

    # ----------------------------------------------------------------------------------------- sizes
    @property
    def dx(self) -> int:
        return self.spec.dx

    @property
    def dh(self) -> int:
        return self.spec.dh

    @property
    def dy(self) -> int:
        return self.spec.dy

    def nnz(self) -> dict[str, int]:
        """Realised number of trainable entries per block."""
        return {name: self.blocks[name].nnz for name in BLOCKS}

    def hidden_proportion(self) -> float:
        """Hidden proportion of the realised masks."""
        return hidden_proportion(self.nnz())

    @property
    def weights(self) -> int:
        """Realised trainable weights (non-zeros of all blocks)."""
        return sum(self.nnz().values())

    @property
    def parameters_count(self) -> int:
        """Realised weights plus biases."""
        return self.weights + self.dh + self.dy

    def summary(self) -> dict[str, object]:
        """Derived features of the realised model, for run records."""
        nnz = self.nnz()
        return {
            "kind": "block",
            "dx": self.dx,
            "dh": self.dh,
            "dy": self.dy,
            "density": dict(self.spec.density),
            "nnz": nnz,
            "weights": sum(nnz.values()),
            "parameters": self.parameters_count,
            "hidden_proportion": hidden_proportion(nnz),
            "hidden_proportion_nominal": self.spec.hidden_proportion(expected=True),
            "readout": self.readout,
            "activation": self.activation,
            "mask_method": self.mask_method,
        }

    # ---------------------------------------------------------------------------------- weights
    def dense_blocks(self) -> dict[str, torch.Tensor]:
        """Each block as a dense matrix with zeros outside its mask."""
        return {name: self.blocks[name].dense() for name in BLOCKS}

    def effective_weight(self) -> torch.Tensor:
        """The dense ``(dh+dy, dx+dh+dy)`` weight matrix over the state ``[x, h, y]``, zeros outside the masks."""
        w = self.dense_blocks()
        return torch.cat(
            [torch.cat([w["hx"], w["hh"], w["hy"]], 1), torch.cat([w["yx"], w["yh"], w["yy"]], 1)], 0
        )

    # ---------------------------------------------------------------------------------- forward
    def _check_input(self, x: torch.Tensor, dims: int) -> None:
        if x.dim() != dims or x.shape[-1] != self.dx:
            want = "(batch, T, dx)" if dims == 3 else "(batch, dx)"
            raise ValueError(f"input must have shape {want} with dx={self.dx}, got {tuple(x.shape)}")

    def _weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Input weight ``[W_hx; W_yx]`` and recurrent weight ``[[W_hh, W_hy], [W_yh, W_yy]]``."""
        w = self.dense_blocks()
        w_in = torch.cat([w["hx"], w["yx"]], 0)
        w_rec = torch.cat(
            [torch.cat([w["hh"], w["hy"]], 1), torch.cat([w["yh"], w["yy"]], 1)], 0
        )
        return w_in, w_rec

    def _recur(self, u: torch.Tensor, state: torch.Tensor, w_rec: torch.Tensor) -> torch.Tensor:
        """One update of the state ``[h; y]`` given the precomputed input part ``u`` (bias included)."""
        dh = self.dh
        if self.readout == "lagged":
            pre = torch.addmm(u, state, w_rec.t())
            return torch.cat([self._act(pre[:, :dh]), pre[:, dh:]], 1)
        h = self._act(torch.addmm(u[:, :dh], state, w_rec[:dh].t()))
        y_prev = state[:, dh:]
        y = torch.addmm(u[:, dh:], torch.cat([h, y_prev], 1), w_rec[dh:].t())
        return torch.cat([h, y], 1)

    def initial_state(self, batch: int) -> torch.Tensor:
        """The zero state ``[h_0; y_0]`` for a batch."""
        return self.bias.new_zeros(batch, self.dh + self.dy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y-slot at every step for input ``(batch, T, dx)``."""
        self._check_input(x, 3)
        batch, steps, _ = x.shape
        w_in, w_rec = self._weights()
        u = torch.addmm(self.bias, x.reshape(batch * steps, self.dx), w_in.t()).view(batch, steps, -1)
        state = self.initial_state(batch)
        outputs = []
        for t in range(steps):
            state = self._recur(u[:, t], state, w_rec)
            outputs.append(state[:, self.dh :])
        return torch.stack(outputs, 1)

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One recurrent update for input ``(batch, dx)``; returns ``(y_t, new_state)``.

        Running ``step`` over a sequence gives the same outputs as ``forward`` on the whole sequence.
        """
        self._check_input(x_t, 2)
        w_in, w_rec = self._weights()
        if state is None:
            state = self.initial_state(x_t.shape[0])
        state = self._recur(torch.addmm(self.bias, x_t, w_in.t()), state, w_rec)
        return state[:, self.dh :], state
