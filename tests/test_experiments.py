"""Helpers of the experiment scripts whose numbers go into docs/results.md, against slow, obvious references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))


def test_hammer_versus_is_welch_with_holm() -> None:
    from hammer_zoo_transfer import versus

    rng = np.random.default_rng(0)
    groups = {"dense": rng.normal(130, 4, 5), "a": rng.normal(128, 5, 5), "b": rng.normal(110, 10, 4),
              "c": rng.normal(131, 3, 3), "d": [120.0]}
    runs = pd.DataFrame([{"model": m, "score": v} for m, vals in groups.items() for v in vals])
    out = versus(runs, "score").set_index("model")
    assert set(out.index) == {"a", "b", "c", "d"}
    ref = np.asarray(groups["dense"])
    raw = {}
    for m in "abc":
        b = np.asarray(groups[m])
        va, vb = ref.var(ddof=1) / len(ref), b.var(ddof=1) / len(b)
        t = (ref.mean() - b.mean()) / np.sqrt(va + vb)
        nu = (va + vb) ** 2 / (va ** 2 / (len(ref) - 1) + vb ** 2 / (len(b) - 1))
        raw[m] = stats.t.sf(t, nu)
        half = stats.t.ppf(0.975, nu) * np.sqrt(va + vb)
        assert out.loc[m, "t"] == pytest.approx(t)
        assert out.loc[m, "p (one-sided)"] == pytest.approx(raw[m])
        assert out.loc[m, "difference"] == pytest.approx(ref.mean() - b.mean())
        assert out.loc[m, "CI low"] == pytest.approx(ref.mean() - b.mean() - half)
        assert out.loc[m, "CI high"] == pytest.approx(ref.mean() - b.mean() + half)
    # Holm by hand: sorted p times (m, m-1, ...), running maximum, capped at 1
    order = sorted(raw, key=raw.get)
    running = 0.0
    for k, m in enumerate(order):
        running = max(running, min(1.0, raw[m] * (len(order) - k)))
        assert out.loc[m, "p (Holm)"] == pytest.approx(running)
    assert np.isnan(out.loc["d", "CI low"]) and np.isnan(out.loc["d", "p (Holm)"])  # one seed: no test


def test_zoo_recommend_counts_a_difference_of_exactly_the_tolerance_as_level() -> None:
    """Three-seed means of accuracies on a few hundred sequences differ by exactly 0.005 often; float noise
    (0.0533 − 0.0483 = 0.005000000000000004) must not make it "better"."""
    from zoo_recommend import TOL, tolerance_counts

    chosen = pd.Series([0.16 / 3, 0.7, 0.2, 0.5, np.nan])
    ref = pd.Series([0.145 / 3, 0.6, 0.3, 0.5 + TOL, 0.4])
    assert chosen[0] - ref[0] > TOL  # the float noise this guards against
    # by hand: level (exactly TOL), better, worse, level (exactly −TOL); the NaN row is left out
    assert tolerance_counts(chosen, ref) == "1 / 2 / 1"
