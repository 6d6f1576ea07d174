"""Block specification and counting: the single source of truth for sizes, weights and hidden proportion.

A varied-sparsity block RNN has the state ``z_t = [x_t; h_t; y_t]`` and six trainable blocks, named by
(output row, input column)::

            x      h      y
    h-row [ hx     hh     hy ]
    y-row [ yx     yh     yy ]

Every formula that counts weights, solves the hidden size from a budget, decides whether a budget is feasible
(:func:`is_feasible`, :func:`smallest_feasible_budget`), or computes or solves for the hidden proportion
(:func:`solve_hidden_proportion`) lives in this module (SPEC §3). Everything else calls it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .defaults import DEFAULT_INIT

BLOCKS: tuple[str, ...] = ("hx", "hh", "hy", "yx", "yh", "yy")
"""The six block names, in canonical order (rows h, y; columns x, h, y)."""

H_ROW: tuple[str, ...] = ("hx", "hh", "hy")
Y_ROW: tuple[str, ...] = ("yx", "yh", "yy")

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


def parameter_count(nnz: Mapping[str, int], dh: int, dy: int) -> int:
    """Trainable weights (the non-zeros of every block, what the budget counts) plus the dh + dy biases."""
    return int(sum(nnz[b] for b in BLOCKS)) + dh + dy


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


def check_init(what: str, value: object) -> tuple[float, float]:
    """A (mean, std) pair of initial values with a finite mean and a finite std >= 0, or a one-line SpecError
    naming ``what``."""
    try:
        mean, std = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise SpecError(f"{what} must be a (mean, std) pair, got {value!r}") from None
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise SpecError(f"{what} needs a finite mean and a finite std >= 0, got {value!r}")
    return mean, std


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


def _h_coefficients(dx: int, dy: int, density: Mapping[str, float]) -> tuple[float, float, float]:
    """(a, b, fixed) of W(h) = a·h² + b·h + fixed (SPEC §3)."""
    p = density
    return p["hh"], p["hx"] * dx + p["hy"] * dy + p["yh"] * dy, p["yx"] * dx * dy + p["yy"] * dy * dy


SMALLEST_HIDDEN = 0.5
"""The feasibility rule: a budget is feasible when W(h) = budget has a root h >= 0.5, i.e. dh rounds to >= 1."""


def smallest_feasible_budget(dx: int, dy: int, density: Mapping[str, float]) -> int:
    """The smallest whole budget that is feasible for ``density`` (:func:`is_feasible`): ceil(W(0.5)).

    Raises SpecError when hx, hh, hy and yh are all 0 (no budget fixes dh).
    """
    a, b, _ = _h_coefficients(dx, dy, density)
    if a == 0 and b == 0:
        raise SpecError("densities hx, hh, hy and yh are all 0: the weight count does not depend on dh, so no budget fixes it")
    return math.ceil(expected_weights(dx, SMALLEST_HIDDEN, dy, density))


def check_feasible(dx: int, dy: int, budget: float, density: Mapping[str, float]) -> None:
    """Raise a one-line SpecError, naming the smallest feasible budget, unless ``budget`` is feasible for
    ``density`` (the one feasibility rule: W(0.5) <= budget, so the hidden size rounds to at least 1). Sizes and
    budget are checked first (:func:`check_size`, :func:`check_budget`): a NaN or infinite budget is no budget."""
    dx, dy, budget = check_size("dx", dx), check_size("dy", dy), check_budget(budget)
    density = validate_density(density)
    smallest = smallest_feasible_budget(dx, dy, density)
    if budget < expected_weights(dx, SMALLEST_HIDDEN, dy, density):
        raise SpecError(
            f"budget {budget:g} is too small for these densities (dx={dx}, dy={dy}); "
            f"the smallest feasible budget is {smallest}"
        )


def is_feasible(dx: int, dy: int, budget: float, density: Mapping[str, float]) -> bool:
    """True when a model with these densities exists at ``budget`` (:func:`check_feasible` passes)."""
    try:
        check_feasible(dx, dy, budget, density)
    except SpecError:
        return False
    return True


def solve_hidden_size(dx: int, dy: int, budget: float, density: Mapping[str, float]) -> float:
    """Positive real root h of W(h) = budget (SPEC §3), before rounding.

    Raises SpecError when the h-dependent blocks are all absent or the budget is not feasible
    (:func:`check_feasible`); the message names the smallest feasible budget.
    """
    check_feasible(dx, dy, budget, density)
    a, b, fixed = _h_coefficients(dx, dy, density)
    c = fixed - float(budget)
    if a == 0:
        h = -c / b
    else:  # 2c / (-b - sqrt(...)), the same root as (-b + sqrt(...)) / 2a without its cancellation when a is tiny
        h = -2 * c / (b + math.sqrt(max(b * b - 4 * a * c, 0.0)))
    return max(h, SMALLEST_HIDDEN)  # only rounding error can put the root of a feasible budget below 0.5


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
            init[name] = check_init(f"init of block {name}", ms)
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
        return parameter_count(self.nnz(), self.dh, self.dy)

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


INIT_SCALES: tuple[str, ...] = ("fixed", "density", "fan-in")
"""How the initial values' spread follows a block's shape and density (:func:`scaled_init`)."""


def check_init_scale(scale: str) -> str:
    """``scale`` if it is one of :data:`INIT_SCALES`, else a one-line SpecError listing them."""
    if scale not in INIT_SCALES:
        raise SpecError(f"unknown init scale {scale!r}; expected one of {', '.join(INIT_SCALES)}")
    return scale


def scaled_init(spec: BlockSpec, scale: str = "fixed") -> dict[str, tuple[float, float]]:
    """Per-block (mean, std) of the initial values under an init scale, from ``spec.init`` (the means are kept).

    * ``fixed``: ``spec.init`` as it is, one spread whatever the block's size and density (the paper's code).
    * ``density``: a block's std divided by sqrt(its density), so a sparse block's units start with the
      input variance the dense block of that shape would have (Evci et al.'s sparsity-aware scaling); dense
      blocks keep theirs. Below about one entry per row the few entries get large (hh at density 0.002: 22×
      the std), and a ReLU recurrence over a long series can diverge (4 of 1,860 zoo runs, docs/results.md).
      Those configs learn nothing at the fixed init either (chance level; experiments/zoo_diverged.py), so no
      bound on the boost is built in: a floor of 4 entries per row would stop the NaN, not the failure.
    * ``fan-in``: std = 1/sqrt(fan-in) in every block of a row, fan-in being the trainable entries that feed
      one unit of that row (its blocks' nnz / rows, summed), whatever ``spec.init``'s stds: LeCun's scaling
      over the row's real inputs.
    """
    check_init_scale(scale)
    init = dict(spec.init)
    if scale == "fixed":
        return init
    if scale == "density":
        return {b: (m, s / math.sqrt(spec.density[b]) if spec.density[b] > 0 else s) for b, (m, s) in init.items()}
    nnz = spec.nnz()
    out = {}
    for row, rows in ((H_ROW, spec.dh), (Y_ROW, spec.dy)):
        fan_in = sum(nnz[b] for b in row) / rows
        for b in row:
            out[b] = (init[b][0], 1.0 / math.sqrt(fan_in) if fan_in > 0 else init[b][1])
    return out


MAX_BUDGET = 100_000_000
"""Largest trainable-weight budget a run accepts (command line, sweep files, ``TrainConfig``, the estimators):
10^8 float32 weights are 400 MB before Adam's two moment buffers; beyond that a typo (1e12 for 1e5) would try to
allocate terabytes and the kernel would kill the process. The counting functions of this module
(``BlockSpec.from_budget``, ``expected_weights``) have no limit; the ``spec`` command applies it as every command does."""


MAX_BLOCK_ENTRIES = 1_000_000_000
"""Largest block (rows x cols, every entry, trainable or not) whose mask a run draws: an exact-count mask is drawn from
a permutation of all of a block's entries (8 bytes each: 8 GB here), so a density so low that the budget buys an
enormous hidden size (``uniform:1e-9`` at 7,500 weights: dh 2.7 million, an hh block of 7.5e12 entries) tried to
allocate terabytes after the data were loaded. Checked with the budget's feasibility for runs
(:func:`balancedrnn.core.configs.check_fits`); the counting functions and the ``spec`` command have no limit."""


def check_block_entries(spec: BlockSpec) -> None:
    """A one-line SpecError when a block of ``spec`` that has a mask to draw (density strictly between 0 and 1) has
    more than :data:`MAX_BLOCK_ENTRIES` entries."""
    for name in BLOCKS:
        rows, cols = spec.shape(name)
        if 0 < spec.density[name] < 1 and rows * cols > MAX_BLOCK_ENTRIES:
            raise SpecError(f"hidden size {spec.dh:,} makes block {name} {rows:,} x {cols:,} = {rows * cols:,} entries, "
                            f"above the limit of {MAX_BLOCK_ENTRIES:,} a mask is drawn from: its density "
                            f"{spec.density[name]:g} is too low for the budget")


MAX_SEED = 2**32 - 1
"""Largest seed a run, a data set or RAD's generator accepts: torch takes seeds below 2**64, but runs add offsets to
theirs and NumPy's legacy generators (scikit-learn's ``random_state``) stop at 2**32 - 1."""


def check_seed(name: str, value: object) -> int:
    """A seed from 0 to :data:`MAX_SEED` (an integral float is its integer), or a one-line SpecError naming it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # a NumPy integer is the integer it holds, as check_size takes it
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise SpecError(f"{name} must be an integer from 0 to {MAX_SEED:,}, got {value!r}")
    return value


def check_budget_limit(budget: float, what: str = "budget") -> None:
    """A one-line SpecError when a run's ``budget`` is above :data:`MAX_BUDGET`; ``what`` names it (a flag, a
    file's field)."""
    if budget > MAX_BUDGET:
        raise SpecError(f"{what} {budget:g} is above the limit of {MAX_BUDGET:,} trainable weights")


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


def _check_target(target: float) -> float:
    """The target hidden proportion as a float strictly between 0 and 1, or a one-line SpecError."""
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise SpecError(f"target hidden proportion must be a number, got {target!r}") from None
    if not (0.0 < value < 1.0):
        raise SpecError(f"target hidden proportion must lie strictly between 0 and 1, got {target!r}")
    return value


def _hp_block(block: str) -> None:
    if block not in HP_SOLVE_ORDER:
        raise SpecError(f"can solve the hidden proportion for block hx or hh, not {block!r}")


def _check_kept_blocks(density: Mapping[str, float], block: str) -> None:
    """A one-line SpecError when ``density`` is no mapping or leaves out a block other than the solved ``block``: a
    left-out block was taken as density 0, silently (hx left out while hh was solved gave a model that never reads
    its input)."""
    if not isinstance(density, Mapping):
        raise SpecError(f"density must be a mapping of block name to density, got {type(density).__name__}")
    missing = [b for b in BLOCKS if b != block and b not in density]
    if missing:
        raise SpecError(f"density is missing block(s) {', '.join(missing)}; solving {block} for a hidden proportion "
                        f"needs the other five densities")


def _proportion_of_block(
    dx: int, dy: int, budget: float, density: Mapping[str, float], block: str
) -> tuple[Callable[[float], float], dict[str, float], float]:
    """Validated inputs as (p -> hidden proportion at ``budget`` with ``block`` at density p, the other
    densities, the budget). ``density`` must give the five other blocks (``block``'s own may be left out)."""
    _hp_block(block)
    _check_kept_blocks(density, block)
    base = validate_density({**dict(density), block: 1.0})
    dx, dy = check_size("dx", dx), check_size("dy", dy)
    budget = check_budget(budget)
    return (lambda p: budget_hidden_proportion(dx, dy, budget, {**base, block: p})), base, budget


def _densest_feasible(dx: int, dy: int, budget: float, base: Mapping[str, float], block: str, low: float) -> float:
    """The densest ``block`` in [``low``, 1] at which ``budget`` is feasible with the other densities of ``base``
    (``low`` when none is: the caller's proportion at ``low`` then raises the budget's error). W(0.5), which the
    feasibility rule compares with the budget, grows linearly with the density of hx or hh."""
    if is_feasible(dx, dy, budget, {**base, block: 1.0}):
        return 1.0
    rest = expected_weights(dx, SMALLEST_HIDDEN, dy, {**base, block: 0.0})
    slope = expected_weights(dx, SMALLEST_HIDDEN, dy, {**base, block: 1.0}) - rest
    p = (budget - rest) / slope
    while p > low and not is_feasible(dx, dy, budget, {**base, block: p}):  # rounding: step below the edge
        p = math.nextafter(p, 0.0)
    return max(p, low)


def hidden_proportion_reach(
    dx: int, dy: int, budget: float, density: Mapping[str, float], block: str = "hx", low: float = 1e-4
) -> tuple[float, float]:
    """(lowest, highest) hidden proportion at ``budget`` when ``block`` (hx or hh) varies in [``low``, 1], as far
    as the budget holds it (a small budget may hold the block only up to a lower density), and the other densities
    come from ``density``. Raises SpecError when the budget is infeasible even at ``low``."""
    hp, base, budget = _proportion_of_block(dx, dy, budget, density, block)
    ends = hp(low), hp(_densest_feasible(dx, dy, budget, base, block, low))
    return min(ends), max(ends)


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
    hidden proportion; the other five densities are taken from ``density``, which must give them (``block``'s own
    may be left out). (To let the library choose the
    block, call :func:`solve_hidden_proportion`.)

    Uses bisection on the expected counts at the unrounded hidden size, over [``low``, 1] or up to the densest
    ``block`` the budget holds; the realised proportion after rounding dh differs by well under 1 % at practical
    sizes. Raises SpecError when the target is out of the reachable range, naming that range.
    """
    _hp_block(block)
    target = _check_target(target)
    hp, base, budget = _proportion_of_block(dx, dy, budget, density, block)
    lo, hi = low, _densest_feasible(dx, dy, budget, base, block, low)
    f_lo, f_hi = hp(lo), hp(hi)
    reach = (min(f_lo, f_hi), max(f_lo, f_hi))
    if not (reach[0] <= target <= reach[1]):
        held = "" if hi == 1.0 else ", the densest the budget holds"
        raise SpecError(
            f"hidden proportion {target:g} is out of reach by varying {block} in [{low:g}, {hi:.4g}{held}] at "
            f"budget {budget:g}: reachable range is [{reach[0]:.4f}, {reach[1]:.4f}]"
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


HP_SOLVE_ORDER: tuple[str, ...] = ("hx", "hh")
"""The blocks :func:`solve_hidden_proportion` may solve, in the order it tries them."""


def solve_hidden_proportion(
    dx: int,
    dy: int,
    budget: float,
    target: float,
    density: Mapping[str, float],
    low: float = 1e-4,
) -> dict[str, float]:
    """Densities with the target hidden proportion at ``budget``: the one place the block to solve is chosen.

    The rule: hx is solved (:func:`density_for_hidden_proportion`) when varying hx alone in [``low``, 1] (as far
    as the budget holds it: :func:`hidden_proportion_reach`) reaches the target at this budget -- wide inputs, e.g. RAD, where W_hx eats the budget; otherwise hh --
    narrow inputs, e.g. Hammer. The other five densities come from ``density`` (hx's may be left out only when hx
    is solved). When the starting model has
    hx = 1 (as ``balanced`` has), this is the same as "hx when the starting model's proportion is below the
    target, hh otherwise". When neither block reaches the target, raises the one-line SpecError of the block
    whose reachable range lies nearer to it (the budget error when the budget is infeasible for both).
    """
    target = _check_target(target)
    misses: list[tuple[float, str]] = []
    error: SpecError | None = None
    for block in HP_SOLVE_ORDER:
        _check_kept_blocks(density, block)  # hx may be left out while hx is solved, not once the rule turns to hh
        try:
            lo, hi = hidden_proportion_reach(dx, dy, budget, density, block, low)
        except SpecError as e:
            error = error or e
            continue
        if lo <= target <= hi:
            return density_for_hidden_proportion(dx, dy, budget, target, density, block=block, low=low)
        misses.append((max(lo - target, target - hi), block))
    if not misses:
        assert error is not None
        raise error
    return density_for_hidden_proportion(dx, dy, budget, target, density, block=min(misses)[1], low=low)  # raises


BUDGET_TOLERANCE = 0.02
"""Relative distance between a realised model's weights and the budget that :func:`spends_budget` accepts."""


def spends_budget(dx: int, dy: int, budget: float, density: Mapping[str, float],
                  tolerance: float = BUDGET_TOLERANCE) -> bool:
    """True when the budget is feasible (:func:`is_feasible`) and the realised model -- dh rounded to an
    integer, exact-count masks -- holds within ``tolerance`` x budget weights of it.

    Not a second feasibility rule: every feasible budget has a model, but near the smallest feasible budget
    rounding dh (say 0.6 to 1) can put its weights far from the budget. The recommender scores only
    candidates that really spend the budget they are compared at.
    """
    if not is_feasible(dx, dy, budget, density):
        return False
    return abs(BlockSpec.from_budget(dx, dy, budget, density).weights - budget) <= tolerance * budget


def format_budget(budget: float) -> str:
    """A budget as text for tables and notes: a whole number with thousands separators, a fractional one as given
    (``10.5`` stays ``10.5``; rounding it to ``10`` would show a budget the model was not solved for)."""
    value = float(budget)
    return f"{int(value):,}" if value.is_integer() else f"{value:,}"


def block_budget_note(weights: int, budget: float | None, dh: int) -> str:
    """Why a block model's weights lie more than :data:`BUDGET_TOLERANCE` from its budget (its hidden size rounds
    to a whole number of units, which at small budgets moves the count far), or ''."""
    if budget is None or abs(weights - budget) <= BUDGET_TOLERANCE * budget:
        return ""
    return (f"the model holds {weights:,} weights, {weights / budget - 1:+.0%} off the budget {format_budget(budget)}: "
            f"its hidden size rounds to {dh}")


def _smallest_spending_one(dx: int, dy: int, density: Mapping[str, float], tolerance: float) -> int:
    """Smallest whole budget at which ``density`` :func:`spends_budget`, found exactly: a budget that spends
    realises some hidden size k whose weights W_k lie within ``tolerance`` of it, so it lies in the window
    [W_k / (1 + tolerance), W_k / (1 - tolerance)]; the realised hidden size grows with the budget, so the first
    budget of a window that realises k is found by bisection, for k = 1, 2, ... in turn."""
    first = smallest_feasible_budget(dx, dy, density)

    def realised(budget: int) -> int:
        return BlockSpec.from_budget(dx, dy, float(budget), density).dh

    k0 = realised(first)
    for k in range(k0, k0 + 10**6):
        w = BlockSpec(dx, k, dy, density).weights
        lo, hi = max(first, math.ceil(w / (1 + tolerance))), math.floor(w / (1 - tolerance))
        if lo > hi or realised(lo) > k or realised(hi) < k:
            continue
        if realised(lo) < k:  # lo realises less than k, hi at least k: bisect for the first budget that reaches k
            a, b = lo, hi
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (a, mid) if realised(mid) >= k else (mid, b)
            lo = b
        for x in range(lo, hi + 1):  # the first normally spends; later ones only when rounding at the edge says no
            if realised(x) != k:
                break
            if spends_budget(dx, dy, float(x), density, tolerance):
                return x
    raise SpecError(f"no budget up to a hidden size of {k0 + 10**6} spends these densities (dx={dx}, dy={dy})")


def smallest_spending_budget(dx: int, dy: int, densities: Iterable[Mapping[str, float]],
                             tolerance: float = BUDGET_TOLERANCE) -> int:
    """Smallest whole budget at which at least one of ``densities`` :func:`spends_budget` (the recommender's lower
    limit). Exact: at a hidden size of a few units which budgets spend is not monotone (dx=1, dy=26: the Elman
    RNN spends 28 but none of 29..56), so no grid or bisection over budgets finds the first."""
    return min(_smallest_spending_one(dx, dy, d, tolerance) for d in densities)
