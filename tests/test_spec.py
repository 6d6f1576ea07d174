import math

import pytest

from balancedrnn.spec import (
    BLOCKS,
    BlockSpec,
    SpecError,
    density_for_hidden_proportion,
    expected_weights,
    hidden_proportion,
    solve_hidden_size,
)

DENSE = {b: 1.0 for b in BLOCKS}


def test_reference_sizes_from_spec():
    # SPEC §3: budget 100,000, dx 2,500, dy 10
    assert BlockSpec.from_budget(2500, 10, 100_000, DENSE).dh == 29
    assert BlockSpec.from_budget(2500, 10, 100_000, {b: 0.2 for b in BLOCKS}).dh == 176
    bal = dict(zip(BLOCKS, (0.1, 1, 1, 0.1, 0.1, 0.1)))
    assert BlockSpec.from_budget(2500, 10, 100_000, bal).dh == 208


def test_counting_on_hand_checked_spec():
    # dx=4, dh=3, dy=2; hx 0.5 of 12 = 6, hh 1 of 9 = 9, hy 0.5 of 6 = 3, yx 0.25 of 8 = 2, yh 0 = 0, yy 1 of 4 = 4
    spec = BlockSpec(4, 3, 2, {"hx": 0.5, "hh": 1, "hy": 0.5, "yx": 0.25, "yh": 0, "yy": 1})
    assert spec.nnz() == {"hx": 6, "hh": 9, "hy": 3, "yx": 2, "yh": 0, "yy": 4}
    assert spec.weights == 24
    assert spec.parameters == 24 + 3 + 2
    assert spec.hidden_proportion() == pytest.approx(9 / 18)


def test_linear_case_when_hh_is_zero():
    d = {"hx": 1, "hh": 0, "hy": 0, "yx": 0, "yh": 1, "yy": 0}
    # W(h) = h*dx + dy*h = h*(12) with dx 10, dy 2 -> h = 120/12 = 10
    assert BlockSpec.from_budget(10, 2, 120, d).dh == 10


def test_solver_root_solves_the_equation_and_rounds():
    d = {b: 0.3 for b in BLOCKS}
    h = solve_hidden_size(100, 7, 5000, d)
    assert expected_weights(100, h, 7, d) == pytest.approx(5000)
    assert BlockSpec.from_budget(100, 7, 5000, d).dh == int(h + 0.5)


def test_infeasible_budget_names_smallest():
    d = {"hx": 1, "hh": 1, "hy": 1, "yx": 1, "yh": 1, "yy": 1}
    with pytest.raises(SpecError, match="smallest feasible budget is") as e:
        BlockSpec.from_budget(2500, 10, 20_000, d)
    smallest = int(str(e.value).rsplit(" ", 1)[1])
    BlockSpec.from_budget(2500, 10, smallest, d)  # feasible
    with pytest.raises(SpecError):
        BlockSpec.from_budget(2500, 10, smallest - 1, d)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "density",
    [
        {**DENSE, "hx": 1.5},
        {**DENSE, "hh": -0.1},
        {**DENSE, "yy": float("nan")},
        {**DENSE, "yy": float("inf")},
        {**DENSE, "zz": 0.5},
        {k: v for k, v in DENSE.items() if k != "hy"},
        {**DENSE, "hx": "a lot"},
    ],
)
def test_bad_densities(density):
    with pytest.raises(ValueError) as e:
        BlockSpec(10, 5, 2, density)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("sizes", [(0, 5, 2), (10, -1, 2), (10, 5, 2.5), (True, 5, 2)])
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="positive integer"):
        BlockSpec(*sizes, DENSE)


@pytest.mark.parametrize("budget", [0, -5, float("nan"), "many"])
def test_bad_budget(budget):
    with pytest.raises(ValueError, match="budget"):
        BlockSpec.from_budget(10, 2, budget, DENSE)


def test_hidden_proportion_undefined_without_h_row():
    assert math.isnan(hidden_proportion({"hx": 0, "hh": 0, "hy": 0}))


@pytest.mark.parametrize("block", ["hx", "hh"])
@pytest.mark.parametrize("target", [0.2, 0.5, 0.8])
def test_target_hidden_proportion(block, target):
    base = {"hx": 1, "hh": 1, "hy": 1, "yx": 0.1, "yh": 0.1, "yy": 0.1}
    dx, dy, budget = (2500, 10, 100_000) if block == "hx" else (46, 26, 400_000)
    try:
        d = density_for_hidden_proportion(dx, dy, budget, target, base, block=block)
    except SpecError as e:
        assert "reachable range" in str(e)
        return
    spec = BlockSpec.from_budget(dx, dy, budget, d)
    assert spec.hidden_proportion() == pytest.approx(target, abs=0.01)
    assert spec.hidden_proportion(expected=True) == pytest.approx(target, abs=0.01)
    assert abs(spec.weights - budget) / budget < 0.02
    for b in BLOCKS:
        if b != block:
            assert d[b] == base[b]


def test_target_out_of_reach():
    base = {"hx": 1, "hh": 1, "hy": 1, "yx": 0.1, "yh": 0.1, "yy": 0.1}
    with pytest.raises(SpecError, match="reachable range"):
        density_for_hidden_proportion(2500, 10, 100_000, 0.999, base, block="hx")
    with pytest.raises(SpecError, match="strictly between"):
        density_for_hidden_proportion(2500, 10, 100_000, 1.0, base)
