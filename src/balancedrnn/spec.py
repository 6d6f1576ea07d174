"""Block specification and counting: the single source of truth for sizes, weights and hidden proportion.

A varied-sparsity block RNN has the state ``z_t = [x_t; h_t; y_t]`` and six trainable blocks, named by
(output row, input column)::

            x      h      y
    h-row [ hx     hh     hy ]
    y-row [ yx     yh     yy ]

Every formula that counts weights, solves the hidden size from a budget, or computes the hidden proportion
lives in this module (SPEC §3). Everything else calls it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

BLOCKS: tuple[str, ...] = ("hx", "hh", "hy", "yx", "yh", "yy")
"""The six block names, in canonical order (rows h, y; columns x, h, y)."""

H_ROW: tuple[str, ...] = ("hx", "hh", "hy")
Y_ROW: tuple[str, ...] = ("yx", "yh", "yy")

DEFAULT_INIT: tuple[float, float] = (0.0, 0.05)
"""Default (mean, std) of the normal distribution for masked-in initial values."""


class SpecError(ValueError):
    """Invalid model specification (bad density, size, budget, ...). The message is one line."""


def block_shape(name: str, dx: int, dh: int, dy: int) -> tuple[int, int]:
    """(rows, cols) of block ``name`` for the given sizes."""
    sizes = {"x": dx, "h": dh, "y": dy}
    _check_block_name(name)
    return sizes[name[0]], sizes[name[1]]


def exact_count(density: float, rows: int, cols: int) -> int:
    """Number of entries an exact-count mask holds: round-half-up of density * rows * cols."""
    return int(math.floor(density * rows * cols + 0.5))


def hidden_proportion(nnz: Mapping[str, float]) -> float:
    """Share of the weights computing h_{t+1} that read h_t: nnz(hh) / (nnz(hx) + nnz(hh) + nnz(hy)).

    Returns NaN when the h-row holds no weights at all (the proportion is undefined).
    """
    denom = nnz["hx"] + nnz["hh"] + nnz["hy"]
    return float(nnz["hh"] / denom) if denom > 0 else float("nan")


def _check_block_name(name: str) -> None:
    if name not in BLOCKS:
        raise SpecError(f"unknown block name {name!r}; expected one of {', '.join(BLOCKS)}")


def validate_density(density: Mapping[str, float]) -> dict[str, float]:
    """Check a density mapping (all six names, finite, in [0, 1]) and return it as a plain ordered dict."""
    if not isinstance(density, Mapping):
        raise SpecError(f"density must be a mapping of block name to density, got {type(density).__name__}")
    for name in density:
        _check_block_name(name)
    missing = [b for b in BLOCKS if b not in density]
    if missing:
        raise SpecError(f"density is missing block(s) {', '.join(missing)}; give all of {', '.join(BLOCKS)}")
    out: dict[str, float] = {}
    for name in BLOCKS:
        value = density[name]
        try:
            p = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"density of block {name} must be a number, got {value!r}") from None
        if not math.isfinite(p) or p < 0.0 or p > 1.0:
            raise SpecError(f"density of block {name} must be a finite number in [0, 1], got {value!r}")
        out[name] = p
    return out


def check_size(name: str, value: object) -> int:
    """A positive integer (an integral float is accepted), or a one-line SpecError naming ``name``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok or (isinstance(value, float) and value.is_integer())
    if not ok or int(value) <= 0:  # type: ignore[call-overload]
        raise SpecError(f"{name} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def expected_weights(dx: int, dh: float, dy: int, density: Mapping[str, float]) -> float:
    """W(h) of SPEC §3: the expected number of trainable weights at (possibly fractional) hidden size dh."""
    p = density
    return (
        p["hx"] * dh * dx
        + p["hh"] * dh * dh
        + p["hy"] * dh * dy
        + p["yx"] * dy * dx
        + p["yh"] * dy * dh
        + p["yy"] * dy * dy
    )


def solve_hidden_size(dx: int, dy: int, budget: float, density: Mapping[str, float]) -> float:
    """Positive real root h of W(h) = budget (SPEC §3), before rounding.

    Raises SpecError when the h-dependent blocks are all absent or no h >= 0.5 fits the budget; the message
    names the smallest feasible budget.
    """
    p = density
    a = p["hh"]
    b = p["hx"] * dx + p["hy"] * dy + p["yh"] * dy
    fixed = p["yx"] * dx * dy + p["yy"] * dy * dy
    if a == 0 and b == 0:
        raise SpecError("densities hx, hh, hy and yh are all 0: the weight count does not depend on dh, so no budget fixes it")
    c = fixed - budget
    if a == 0:
        h = -c / b
    else:
        h = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) if b * b - 4 * a * c >= 0 else -1.0
    if h < 0.5:
        smallest = math.ceil(expected_weights(dx, 0.5, dy, p))
        raise SpecError(
            f"budget {budget:g} is too small for these densities (dx={dx}, dy={dy}); "
            f"the smallest feasible budget is {smallest}"
        )
    return h


@dataclass(frozen=True)
class BlockSpec:
    """Sizes, per-block densities and per-block initialisation of a block RNN.

    ``density`` maps each of ``hx hh hy yx yh yy`` to the fraction of that block's entries that are
    trainable (0 = block absent). ``init`` maps block names to (mean, std) of the normal distribution the
    masked-in entries start from; missing blocks use N(0, 0.05^2).
    """

    dx: int
    """Input size."""
    dh: int
    """Hidden size."""
    dy: int
    """Output size."""
    density: Mapping[str, float]
    """Density of each of the six blocks, in [0, 1]."""
    init: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Per-block (mean, std) of the initial values of masked-in entries."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dx", check_size("dx", self.dx))
        object.__setattr__(self, "dh", check_size("dh", self.dh))
        object.__setattr__(self, "dy", check_size("dy", self.dy))
        object.__setattr__(self, "density", validate_density(self.density))
        init: dict[str, tuple[float, float]] = {}
        for name, ms in dict(self.init or {}).items():
            _check_block_name(name)
            try:
                mean, std = (float(v) for v in ms)
            except (TypeError, ValueError):
                raise SpecError(f"init of block {name} must be a (mean, std) pair, got {ms!r}") from None
            if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
                raise SpecError(f"init of block {name} needs a finite mean and a finite std >= 0, got {ms!r}")
            init[name] = (mean, std)
        object.__setattr__(self, "init", {b: init.get(b, DEFAULT_INIT) for b in BLOCKS})

    @classmethod
    def from_budget(
        cls,
        dx: int,
        dy: int,
        budget: float,
        density: Mapping[str, float],
        init: Mapping[str, tuple[float, float]] | None = None,
    ) -> BlockSpec:
        """The spec whose hidden size solves W(h) = budget (SPEC §3), rounded to the nearest integer."""
        dx, dy = check_size("dx", dx), check_size("dy", dy)
        budget = check_budget(budget)
        density = validate_density(density)
        h = solve_hidden_size(dx, dy, budget, density)
        return cls(dx, int(math.floor(h + 0.5)), dy, density, init or {})

    def shape(self, name: str) -> tuple[int, int]:
        """(rows, cols) of a block."""
        return block_shape(name, self.dx, self.dh, self.dy)

    def nnz(self) -> dict[str, int]:
        """Exact number of trainable entries of each block (what an exact-count mask holds)."""
        return {b: exact_count(self.density[b], *self.shape(b)) for b in BLOCKS}

    def expected_nnz(self) -> dict[str, float]:
        """Expected entries per block, density * rows * cols (what a Bernoulli mask holds on average)."""
        return {b: self.density[b] * math.prod(self.shape(b)) for b in BLOCKS}

    @property
    def weights(self) -> int:
        """Number of trainable non-zero weights (what the budget counts)."""
        return sum(self.nnz().values())

    @property
    def parameters(self) -> int:
        """Trainable weights plus the dh + dy biases."""
        return self.weights + self.dh + self.dy

    def hidden_proportion(self, expected: bool = False) -> float:
        """Hidden proportion from exact counts (default) or from expected counts (``expected=True``)."""
        return hidden_proportion(self.expected_nnz() if expected else self.nnz())

    def summary(self) -> dict[str, object]:
        """Derived features for run records and tables."""
        nnz = self.nnz()
        return {
            "dx": self.dx,
            "dh": self.dh,
            "dy": self.dy,
            "density": dict(self.density),
            "nnz": nnz,
            "weights": sum(nnz.values()),
            "parameters": self.parameters,
            "hidden_proportion": hidden_proportion(nnz),
        }


def check_budget(budget: float) -> float:
    """A positive finite budget as float, or a one-line SpecError."""
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise SpecError(f"budget must be a positive number, got {budget!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"budget must be a positive finite number, got {budget!r}")
    return value


def budget_hidden_proportion(dx: int, dy: int, budget: float, density: Mapping[str, float]) -> float:
    """Hidden proportion from expected counts at the real (unrounded) hidden size that ``budget`` gives."""
    h = solve_hidden_size(dx, dy, budget, density)
    return hidden_proportion({"hx": density["hx"] * h * dx, "hh": density["hh"] * h * h, "hy": density["hy"] * h * dy})


def density_for_hidden_proportion(
    dx: int,
    dy: int,
    budget: float,
    target: float,
    density: Mapping[str, float],
    block: str = "hx",
    low: float = 1e-4,
) -> dict[str, float]:
    """Densities in which ``block`` (``hx`` or ``hh``) is solved so the model at ``budget`` has the target
    hidden proportion; the other five densities are taken from ``density``.

    Uses bisection on the expected counts at the unrounded hidden size; the realised proportion after
    rounding dh differs by well under 1 % at practical sizes. Raises SpecError when the target is out of
    the reachable range, naming that range.
    """
    if block not in ("hx", "hh"):
        raise SpecError(f"can solve the hidden proportion for block hx or hh, not {block!r}")
    if not (0.0 < float(target) < 1.0):
        raise SpecError(f"target hidden proportion must lie strictly between 0 and 1, got {target!r}")
    base = validate_density({**{b: 0.0 for b in BLOCKS}, **dict(density), block: 1.0})
    dx, dy = check_size("dx", dx), check_size("dy", dy)
    budget = check_budget(budget)

    def hp(p: float) -> float:
        return budget_hidden_proportion(dx, dy, budget, {**base, block: p})

    lo, hi = low, 1.0
    f_lo, f_hi = hp(lo), hp(hi)
    reach = (min(f_lo, f_hi), max(f_lo, f_hi))
    if not (reach[0] <= target <= reach[1]):
        raise SpecError(
            f"hidden proportion {target:g} is out of reach by varying {block} in [{low:g}, 1] at budget {budget:g}: "
            f"reachable range is [{reach[0]:.4f}, {reach[1]:.4f}]"
        )
    increasing = f_hi > f_lo
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = hp(mid)
        if (f_mid < target) == increasing:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return {**base, block: 0.5 * (lo + hi)}
