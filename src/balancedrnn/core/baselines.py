"""Standard baselines at the same trainable-weight budget (SPEC §4): LSTM, GRU, tanh RNN, and a feed-forward
MLP (two ReLU hidden layers of one width, reading only the current input: the behaviour-cloning baseline).

Every baseline maps ``(batch, T, dx)`` to ``(batch, T, dy)`` like :class:`~balancedrnn.core.model.BlockRNN`.
The hidden size is solved so the number of trainable weights (matrix entries; biases are reported
separately, as for block models) is as close to the budget as one hidden unit allows. The LSTM uses
``proj_size=dy`` and PyTorch needs ``hidden > proj_size``, so at small budgets with large inputs it cannot
reach the budget; the model then says so in ``budget_note``, as it does whenever its weights lie more than
``BUDGET_TOLERANCE`` from the budget (the same rule as a block model's note).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from torch import nn

from .model import model_input, model_seed
from .spec import (BUDGET_TOLERANCE, SpecError, block_budget_note, check_budget, check_size, format_budget,
                   hidden_proportion)

# PyTorch warns on every LSTM call with proj_size that oneDNN has no kernel for it; the fallback is correct.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

BaselineKind = Literal["lstm", "gru", "rnn", "mlp"]
BASELINES: tuple[str, ...] = ("lstm", "gru", "rnn", "mlp")
RECURRENT_BASELINES: tuple[str, ...] = ("lstm", "gru", "rnn")


def baseline_counts(kind: str, dx: int, dy: int, hidden: int) -> dict[str, int]:
    """Weight matrices' entries by role (``ih`` input, ``hh`` recurrent, ``mid`` the MLP's second layer, ``out``)
    and the bias count of a baseline."""
    H = hidden
    if kind == "lstm":
        return {"ih": 4 * H * dx, "hh": 4 * H * dy, "out": dy * H, "bias": 8 * H}
    if kind == "gru":
        return {"ih": 3 * H * dx, "hh": 3 * H * H, "out": dy * H, "bias": 6 * H + dy}
    if kind == "rnn":
        return {"ih": H * dx, "hh": H * H, "out": dy * H, "bias": 2 * H + dy}
    if kind == "mlp":
        return {"ih": H * dx, "hh": 0, "mid": H * H, "out": dy * H, "bias": 2 * H + dy}
    raise SpecError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")


def baseline_weights(kind: str, dx: int, dy: int, hidden: int) -> int:
    """Trainable weights (non-bias entries) of a baseline of the given hidden size."""
    return sum(v for k, v in baseline_counts(kind, dx, dy, hidden).items() if k != "bias")


def min_hidden(kind: str, dy: int) -> int:
    """Smallest hidden size PyTorch allows (the LSTM needs hidden > proj_size = dy)."""
    return dy + 1 if kind == "lstm" else 1


def solve_baseline_hidden(kind: str, dx: int, dy: int, budget: float) -> int:
    """Hidden size whose weight count is closest to ``budget`` (at least :func:`min_hidden`)."""
    dx, dy, budget = check_size("dx", dx), check_size("dy", dy), check_budget(budget)  # else the search never ends
    if kind not in BASELINES:
        raise SpecError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")
    lo = min_hidden(kind, dy)
    if baseline_weights(kind, dx, dy, lo) >= budget:
        return lo
    hi = lo
    while baseline_weights(kind, dx, dy, hi) < budget:
        hi *= 2
    while hi - lo > 1:  # invariant: w(lo) < budget <= w(hi)
        mid = (lo + hi) // 2
        if baseline_weights(kind, dx, dy, mid) < budget:
            lo = mid
        else:
            hi = mid
    w_lo, w_hi = baseline_weights(kind, dx, dy, lo), baseline_weights(kind, dx, dy, hi)
    return lo if budget - w_lo <= w_hi - budget else hi



def budget_note(kind: str, dy: int, budget: float | None, hidden: int, weights: int) -> str:
    """Why a baseline's weights lie more than :data:`~balancedrnn.core.spec.BUDGET_TOLERANCE` from its budget
    (its smallest hidden size already exceeds it, or its hidden size rounds to a whole number of units), or '';
    the same tolerance as a block model's note."""
    if budget is None or abs(weights - budget) <= BUDGET_TOLERANCE * budget:
        return ""
    if weights > budget and hidden == min_hidden(kind, dy):
        return (f"{kind} cannot get down to the budget {format_budget(budget)}: its smallest hidden size {hidden} "
                f"already has {weights:,} weights")
    return f"{kind}: {block_budget_note(weights, budget, hidden)}"


def baseline_summary(kind: str, dx: int, dy: int, hidden: int, budget: float | None) -> dict[str, Any]:
    """A baseline's run-record summary (counts, weights, parameters, hidden-proportion analogue, budget note):
    the one place these are derived, for a built baseline and for :func:`~balancedrnn.core.configs.config_summary`.

    The hidden-proportion analogue is the recurrent-weight share of the weights feeding the hidden state (0 for
    the feed-forward MLP)."""
    c = baseline_counts(kind, dx, dy, hidden)
    weights = baseline_weights(kind, dx, dy, hidden)
    return {
        "kind": kind,
        "dx": dx,
        "dh": hidden,
        "dy": dy,
        "density": None,
        "nnz": c,
        "weights": weights,
        "parameters": weights + c["bias"],
        "hidden_proportion": hidden_proportion({"hx": c["ih"], "hh": c["hh"], "hy": 0}),
        "budget_note": budget_note(kind, dy, budget, hidden, weights),
    }


class Baseline(nn.Module):
    """What every baseline shares: its kind and sizes, weight counts and run-record summary."""

    def __init__(self, kind: str, dx: int, dy: int, hidden: int, seed: int, budget: float | None) -> None:
        super().__init__()
        if kind not in BASELINES:
            raise SpecError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")
        dx, dy, hidden = check_size("dx", dx), check_size("dy", dy), check_size("hidden size", hidden)
        if hidden < min_hidden(kind, dy):
            raise SpecError(f"{kind} needs hidden size >= {min_hidden(kind, dy)}, got {hidden}")
        self.kind, self.dx, self.dy, self.hidden_size, self.seed = kind, dx, dy, hidden, model_seed(seed)
        self.budget = None if budget is None else check_budget(budget)  # as a block RNN's: summary() divides by it

    @property
    def weights(self) -> int:
        """Trainable weight entries (biases excluded)."""
        return self.summary()["weights"]

    @property
    def parameters_count(self) -> int:
        """Weights plus biases."""
        return self.summary()["parameters"]

    @property
    def budget_note(self) -> str:
        """Why the baseline has more weights than its budget, or ''."""
        return self.summary()["budget_note"]

    def hidden_proportion(self) -> float:
        """Analogue of the hidden proportion: recurrent-weight share of the weights feeding the hidden state
        (0 for the feed-forward MLP)."""
        return self.summary()["hidden_proportion"]

    def summary(self) -> dict[str, Any]:
        """Derived features for run records."""
        return baseline_summary(self.kind, self.dx, self.dy, self.hidden_size, self.budget)

    def _check(self, x: Any, dims: int) -> torch.Tensor:
        """The input converted to the model's dtype and device after checking its shape, as a block RNN's
        (:func:`~balancedrnn.core.model.model_input`)."""
        return model_input(x, dims, self.dx, next(self.parameters()))


class RecurrentBaseline(Baseline):
    """An LSTM (projected to dy), GRU or tanh RNN (with a linear head) mapping (batch, T, dx) to (batch, T, dy)."""

    def __init__(
        self,
        kind: str,
        dx: int,
        dy: int,
        hidden: int,
        seed: int = 0,
        budget: float | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if kind not in RECURRENT_BASELINES:
            raise SpecError(f"unknown recurrent baseline {kind!r}; known: {', '.join(RECURRENT_BASELINES)}")
        super().__init__(kind, dx, dy, hidden, seed, budget)
        dx, dy, hidden = self.dx, self.dy, self.hidden_size  # checked: plain positive ints
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if kind == "lstm":
                self.rnn: nn.Module = nn.LSTM(dx, hidden, batch_first=True, proj_size=dy)
                self.head: nn.Module | None = None
            else:
                cls = nn.GRU if kind == "gru" else nn.RNN
                self.rnn = cls(dx, hidden, batch_first=True)
                self.head = nn.Linear(hidden, dy)
        if device is not None:
            self.to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, 3)
        out, _ = self.rnn(x)
        return out if self.head is None else self.head(out)

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One step for input ``(batch, dx)``, returning ``(y_t, new_state)``."""
        x_t = self._check(x_t, 2)
        out, state = self.rnn(x_t.unsqueeze(1), state)
        out = out[:, 0]
        return (out if self.head is None else self.head(out)), state


class MLPBaseline(Baseline):
    """Feed-forward on the current input only: ``y_t = W3 relu(W2 relu(W1 x_t + b1) + b2) + b3``, both hidden
    layers of width ``hidden``; no state (behaviour cloning's usual policy)."""

    def __init__(
        self,
        dx: int,
        dy: int,
        hidden: int,
        seed: int = 0,
        budget: float | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__("mlp", dx, dy, hidden, seed, budget)
        dx, dy, hidden = self.dx, self.dy, self.hidden_size  # checked: plain positive ints
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = nn.Sequential(nn.Linear(dx, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, dy))
        if device is not None:
            self.to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, 3)
        return self.net(x)

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """The action for input ``(batch, dx)``; the state stays None."""
        x_t = self._check(x_t, 2)
        return self.net(x_t), None


def make_baseline(
    kind: str,
    dx: int,
    dy: int,
    budget: float,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Baseline:
    """A baseline of ``kind`` (``lstm``, ``gru``, ``rnn``, ``mlp``) whose weight count is closest to ``budget``."""
    if kind not in BASELINES:
        raise SpecError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")
    dx, dy, budget = check_size("dx", dx), check_size("dy", dy), check_budget(budget)  # as BlockSpec.from_budget
    hidden = solve_baseline_hidden(kind, dx, dy, budget)
    if kind == "mlp":
        return MLPBaseline(dx, dy, hidden, seed=seed, budget=budget, device=device)
    return RecurrentBaseline(kind, dx, dy, hidden, seed=seed, budget=budget, device=device)
