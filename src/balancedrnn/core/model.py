"""The varied-sparsity block RNN (SPEC §2).

``h_{t+1} = act(W_hx x_{t+1} + W_hh h_t + W_hy y_t + b_h)``
``y_{t+1} =     W_yx x_{t+1} + W_yh h_t + W_yy y_t + b_y``   (``readout="lagged"``, the paper's form)

With ``readout="current"`` the y-row reads the new hidden state h_{t+1} instead of h_t (the standard RNN
readout). The recurrence and its backward pass are one autograd function in ``recurrence.py``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ..kernels.dispatch import KernelChoice, sparse_backend
from .masks import MaskedBlock, MaskMethod, check_index
from ..kernels.ops import block_rnn
from ..kernels.recurrence import READOUTS, Workspace
from .spec import (BLOCKS, BlockSpec, block_budget_note, check_block_entries, check_budget, hidden_proportion,
                   parameter_count)

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


def check_readout(readout: Any) -> None:
    """A one-line ValueError unless ``readout`` is one of :data:`READOUTS`."""
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; expected 'lagged' or 'current'")


MAX_MODEL_SEED = 2**64 - 1
"""Largest seed a model takes: torch's generators take seeds below 2**64 and read a negative one modulo 2**64 (seed -1
drew the model of seed 2**64 - 1)."""


def model_seed(seed: Any) -> int:
    """A model's seed as an integer from 0 to :data:`MAX_MODEL_SEED` (an integral float or a NumPy integer is its
    integer), or a one-line ValueError: int(3.7) would be seed 3, silently. Every model of the library (block RNNs,
    baselines) reads its seed through it."""
    if isinstance(seed, bool) or not (isinstance(seed, numbers.Integral)
                                      or isinstance(seed, float) and seed.is_integer()):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) <= MAX_MODEL_SEED:
        raise ValueError(f"seed must be an integer from 0 to 2**64 - 1, got {seed!r}")
    return int(seed)


def model_input(x: Any, dims: int, dx: int, like: torch.Tensor) -> torch.Tensor:
    """A model's input as a tensor of the dtype and device of its parameter ``like`` (NumPy arrays, integer and
    other float inputs are converted), after checking its shape: ``(batch, T, dx)`` when ``dims`` is 3, ``(batch,
    dx)`` when 2; a one-line ValueError otherwise. Every model of the library (block RNNs, baselines) reads its
    input through it."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"input must be a tensor or array of numbers, got {type(x).__name__}: {e}") from None
    if x.dim() != dims or x.shape[-1] != dx:
        want = "(batch, T, dx)" if dims == 3 else "(batch, dx)"
        raise ValueError(f"input must have shape {want} with dx={dx}, got {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"input must be real, got {x.dtype}")
    return x.to(device=like.device, dtype=like.dtype)


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
        kernel: KernelChoice | Mapping[str, KernelChoice] = "auto",
        device: torch.device | str | None = None,
        budget: float | None = None,
    ) -> None:
        super().__init__()
        check_readout(readout)
        check_block_entries(spec)  # a one-line SpecError, not an allocator error for a mask of 1e12 entries
        self.spec = spec
        self.budget = None if budget is None else check_budget(budget)  # the budget the spec was solved at, if known: summary() says when weights miss it
        self.seed = model_seed(seed)
        self.readout: Readout = readout
        self.activation = activation
        get_activation(activation)  # a clear error for an unknown name
        self.mask_method: MaskMethod = mask_method
        gen = torch.Generator().manual_seed(self.seed)
        blocks = {}
        for name in BLOCKS:
            mean, std = spec.init[name]
            rows, cols = spec.shape(name)
            blocks[name] = MaskedBlock.random(rows, cols, spec.density[name], gen, mean, std, mask_method)
        self.blocks = nn.ModuleDict(blocks)
        self.set_kernel(kernel)
        self.bias = nn.Parameter(torch.zeros(spec.dh + spec.dy))
        self._workspace = Workspace()  # state buffers reused between forward passes (not part of the state)
        if device is not None:
            self.to(device)

    def set_kernel(self, kernel: KernelChoice | Mapping[str, KernelChoice] = "auto") -> BlockRNN:
        """Dense or sparse kernel per block: one choice for all, or a mapping of block name to choice
        (unnamed blocks stay ``auto``)."""
        if isinstance(kernel, Mapping):
            for name in kernel:
                if name not in BLOCKS:
                    raise ValueError(f"unknown block name {name!r} in kernel choice; expected one of {', '.join(BLOCKS)}")
            choices = {name: kernel.get(name, "auto") for name in BLOCKS}
        else:
            choices = {name: kernel for name in BLOCKS}
        for name, choice in choices.items():
            self.blocks[name].set_kernel(choice)
        return self

    # ----------------------------------------------------------------------------------------- state
    def get_extra_state(self) -> torch.Tensor:
        """``(dx, dh, dy)``, saved with the state dict: a mask's flat indices mean other entries in blocks of
        another shape, so :meth:`load_state_dict` refuses a state of other sizes instead of loading it."""
        return torch.tensor([self.dx, self.dh, self.dy])

    def set_extra_state(self, state: Any) -> None:
        """Checked in :meth:`_load_from_state_dict` before anything is loaded; nothing to set."""

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        key = prefix + "_extra_state"
        if key in state_dict and not torch.as_tensor(state_dict[key]).is_meta:  # meta: sizes unknown
            sizes = [int(v) for v in torch.as_tensor(state_dict[key]).flatten()]
            if sizes != [self.dx, self.dh, self.dy]:
                have = ", ".join(f"{n}={v}" for n, v in zip(("dx", "dh", "dy"), sizes))
                raise RuntimeError(f"the state dict is of a block RNN with {have}; this one has dx={self.dx}, "
                                   f"dh={self.dh}, dy={self.dy}")
        for name in BLOCKS:  # every mask before any tensor is loaded: a refused state changes nothing
            self.blocks[name].check_state(state_dict, f"{prefix}blocks.{name}.")
        # and every tensor's size: PyTorch loads the tensors that fit and refuses the rest only afterwards, which left
        # a model of other densities (same sizes) with some blocks' masks and values replaced and some not
        own = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        wrong = [f"{k} ({tuple(state_dict[prefix + k].shape)} for {tuple(t.shape)})" for k, t in own.items()
                 if isinstance(state_dict.get(prefix + k), torch.Tensor) and state_dict[prefix + k].shape != t.shape]
        if wrong:
            raise RuntimeError(f"the state dict is of a block RNN with other mask counts: {', '.join(wrong)} "
                               f"(another config or densities?); nothing was loaded")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if key not in state_dict and key in missing_keys:  # a state saved before the sizes were part of it
            missing_keys.remove(key)

    def kernels(self) -> dict[str, str]:
        """The kernel each block uses."""
        return {name: self.blocks[name].kernel for name in BLOCKS}

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
        return parameter_count(self.nnz(), self.dh, self.dy)

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
            "kernels": self.kernels(),
            "sparse_backend": sparse_backend(self.bias) if "sparse" in self.kernels().values() else None,
            "budget_note": block_budget_note(sum(nnz.values()), self.budget, self.dh),
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
    def _check_input(self, x: Any, dims: int) -> torch.Tensor:
        """:func:`model_input` for this model."""
        return model_input(x, dims, self.dx, self.bias)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The zero state ``(h_0, y_0)`` for a batch, in column layout (``(dh, batch)``, ``(dy, batch)``)."""
        return self.bias.new_zeros(self.dh, batch), self.bias.new_zeros(self.dy, batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y-slot at every step for input ``(batch, T, dx)`` (a tensor or array; cast to the model's dtype and
        device)."""
        x = self._check_input(x, 3)
        batch, steps, _ = x.shape
        ys, _ = block_rnn(x.permute(1, 2, 0), self.initial_state(batch), self.bias, self.blocks, self.activation,
                               self.readout, self._workspace)
        return ys.permute(2, 0, 1)

    def step(
        self, x_t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One recurrent update for input ``(batch, dx)``; returns ``(y_t, new_state)`` (the state is opaque).

        Running ``step`` over a sequence gives the same outputs as ``forward`` on the whole sequence.
        """
        x_t = self._check_input(x_t, 2)
        if state is None:
            state = self.initial_state(x_t.shape[0])
        ys, h = block_rnn(x_t.t()[None], state, self.bias, self.blocks, self.activation, self.readout,
                               self._workspace)
        return ys[0].t(), (h, ys[0])


def export_model(model: BlockRNN, path: str | Path) -> Path:
    """Write a (trained) block RNN with only its non-zeros: spec, options, mask indices, values, biases."""
    from ..io import atomic_write

    payload = {
        "format": "balancedrnn.BlockRNN/1",
        "spec": {"dx": model.dx, "dh": model.dh, "dy": model.dy, "density": dict(model.spec.density),
                 "init": {k: list(v) for k, v in model.spec.init.items()}},
        "seed": model.seed,
        "readout": model.readout,
        "activation": model.activation,
        "mask_method": model.mask_method,
        "kernels": model.kernels(),
        "budget": model.budget,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_model(path: str | Path, device: torch.device | str | None = None) -> BlockRNN:
    """Read a model written by :func:`export_model` (masks and values exactly as saved)."""
    from ..io import DataError, torch_load

    payload = torch_load(path, "model file")
    if not isinstance(payload, dict) or payload.get("format") != "balancedrnn.BlockRNN/1":
        raise DataError(f"{path} is not a balancedrnn BlockRNN export")
    try:
        model = _model_from_export(payload)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:  # SpecError is a ValueError
        what = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path} is corrupt: {what}") from None
    return model.to(device) if device is not None else model


def _model_from_export(payload: dict[str, Any]) -> BlockRNN:
    """The model of an :func:`export_model` payload; any fault in it raises (KeyError, ValueError, ...)."""
    s = payload["spec"]
    spec = BlockSpec(s["dx"], s["dh"], s["dy"], s["density"], init={k: tuple(v) for k, v in s["init"].items()})
    model = BlockRNN(spec, seed=payload["seed"], readout=payload["readout"], activation=payload["activation"],
                     mask_method=payload["mask_method"], kernel="dense", budget=payload.get("budget"))  # older files: none
    state = payload["state"]
    dtype = state["bias"].dtype
    if not dtype.is_floating_point or state["bias"].shape != model.bias.shape:
        raise ValueError(f"the bias must be {model.dh + model.dy} floats, got {dtype} of shape {tuple(state['bias'].shape)}")
    model.to(dtype)  # a model exported in float64 comes back in float64, not half converted
    for name in BLOCKS:  # the saved masks replace the freshly drawn ones (their sizes may differ for Bernoulli)
        block = model.blocks[name]
        index, values = state[f"blocks.{name}.index"], state[f"blocks.{name}.values"]
        check_index(block.rows, block.cols, index, f"block {name}'s mask")
        if values.shape != index.shape or values.dtype != dtype:
            raise ValueError(f"block {name} has {tuple(values.shape)} {values.dtype} values for {index.numel()} mask "
                             f"entries of a {dtype} model")
        block.index = index
        block.values = nn.Parameter(values.clone())
        block.invalidate()
    with torch.no_grad():
        model.bias.copy_(state["bias"])
    model.set_kernel(payload["kernels"])
    return model
