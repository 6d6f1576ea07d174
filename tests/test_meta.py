"""Meta-learning (SPEC §8): estimators, honest evaluation, recommender, save/load and the CLI, on synthetic run
records whose metric depends only on the hidden proportion."""

import io
import json
import math
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from balancedrnn.analysis import meta  # noqa: E402
from balancedrnn.analysis.meta import (  # noqa: E402
    FEATURES,
    MetaError,
    MetaPredictor,
    ParentNetwork,
    PerformanceClassifier,
    PerformanceRegressor,
    TooFewRecords,
    config_features,
    load_predictor,
    prepare_records,
    recommend,
    save_predictor,
)
from balancedrnn.analysis.metareport import evaluate, held_out_splits, score  # noqa: E402
from balancedrnn.core.spec import BLOCKS, BlockSpec, SpecError, density_for_hidden_proportion  # noqa: E402
from balancedrnn.train import RECORD_VERSION  # noqa: E402

TASKS = {"rad": (2500, 10, "last", "accuracy"), "ts:BasicMotions": (6, 4, "last", "accuracy")}
BIN = [sys.executable, "-m", "balancedrnn"]


def synthetic_metric(hp: float) -> float:
    """Accuracy that depends only on the hidden proportion: a bump at 0.5 above a floor of 0.2."""
    return 0.2 + 0.6 * math.exp(-(((hp - 0.5) / 0.15) ** 2))


def synthetic_records(n_configs=30, seeds=3, tasks=("rad", "ts:BasicMotions"), budget=20_000, noise=0.02, seed=0):
    """Dicts shaped like train.run_trial's records: random densities with hx (or hh) solved for a random
    hidden proportion, several seeds per config, metric = synthetic_metric(hp) + noise."""
    rng = np.random.default_rng(seed)
    out = []
    for task in tasks:
        dx, dy, loss, metric = TASKS[task]
        made = 0
        while made < n_configs:
            base = dict(zip(BLOCKS, np.clip(np.abs(rng.normal(0.5, 0.25, 6)), 0.02, 1.0)))
            target = rng.uniform(0.02, 0.95)
            for block in ("hx", "hh"):
                try:
                    density = density_for_hidden_proportion(dx, dy, budget, target, base, block=block)
                    break
                except SpecError:
                    density = None
            if density is None:
                continue
            summary = {"kind": "block", **BlockSpec.from_budget(dx, dy, budget, density).summary()}
            lr = float(max(1e-6, rng.normal(1e-3, 4e-4)))
            for s in range(seeds):
                value = synthetic_metric(summary["hidden_proportion"]) + noise * rng.normal()
                cfg = {"task": task, "model": ",".join(f"{b}={density[b]:.6g}" for b in BLOCKS), "budget": float(budget),
                       "epochs": 1, "lr": lr, "seed": s, "data_seed": 0, "init_mean": 0.0, "init_std": 0.05}
                out.append({"record_version": RECORD_VERSION, "trial_key": f"{task}-{made}-{s}", "config": cfg, "seed": s,
                            "status": "ok", "task": {"name": task, "dx": dx, "dy": dy, "loss": loss, "metric": metric},
                            "model": summary, "final": {"metric": metric, "value": value}})
            made += 1
    return out


@pytest.fixture(scope="module")
def records():
    return synthetic_records()


@pytest.fixture(scope="module")
def data(records):
    return prepare_records(records)


@pytest.fixture(scope="module")
def predictor(data):
    return MetaPredictor(n_estimators=50, random_state=0).fit(data)


@pytest.fixture(scope="module")
def evaluation(data):
    return evaluate(data, n_splits=5, n_estimators=50, n_repeats=3, parent=True, random_state=0)


# ------------------------------------------------------------------------------- sklearn conventions
# No check is skipped: all three estimators pass every check of the installed scikit-learn.
@parametrize_with_checks([
    PerformanceClassifier(n_estimators=10, random_state=0),
    PerformanceRegressor(n_estimators=10, random_state=0),
    ParentNetwork(epochs=100, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_parent_network_is_seeded(data):
    a = ParentNetwork(epochs=30, random_state=3).fit(data.X, data.y).predict(data.X)
    b = ParentNetwork(epochs=30, random_state=3).fit(data.X, data.y).predict(data.X)
    c = ParentNetwork(epochs=30, random_state=4).fit(data.X, data.y).predict(data.X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# ------------------------------------------------------------------------------------------ features
def test_one_feature_function_for_records_and_candidates(records, data):
    rec = records[0]
    row = config_features(2500, 10, 20_000, rec["model"]["density"], lr=rec["config"]["lr"])
    assert list(data.X.columns) == list(FEATURES)
    assert prepare_records([rec]).X.iloc[0].to_dict() == pytest.approx(row)  # data's rows are in file-name order
    spec = BlockSpec.from_budget(2500, 10, 20_000, rec["model"]["density"])
    assert row["dh"] == spec.dh and row["weights"] == spec.weights and row["parameters"] == spec.parameters
    assert row["hidden_proportion"] == spec.hidden_proportion()
    assert row["log_dx_over_dy"] == pytest.approx(math.log(250)) and row["chance"] == pytest.approx(0.1)


def test_the_order_of_the_records_does_not_change_the_predictor(records):
    """A store gives its records in the order its trials ran (a resumed sweep, several workers); the same records in
    another order once fitted another forest and other folds: another recommendation, other evaluation scores."""
    shuffled = [records[i] for i in np.random.default_rng(1).permutation(len(records))]
    a, b = prepare_records(records), prepare_records(shuffled)
    assert a.X.equals(b.X) and np.array_equal(a.y, b.y) and list(a.group) == list(b.group)
    fit = [MetaPredictor(n_estimators=10, random_state=0).fit(d) for d in (a, b)]
    assert np.array_equal(fit[0].predict(a.X), fit[1].predict(a.X))


def test_unusable_records_are_skipped_and_counted(records):
    failed = {**records[0], "status": "failed", "final": None}
    lstm = {**records[1], "model": {"kind": "lstm", "density": None, "dx": 2500, "dy": 10, "dh": 11}}
    d = prepare_records([failed, lstm, *records[2:]])
    assert len(d) == len(records) - 2 and d.skipped == {"not ok": 1, "baseline model": 1}
    # said beside the count of the runs used ('22 runs of 11 configs (2 baseline model)' read as 2 of the 22)
    assert d.describe_skipped() == "2 more skipped: 1 not ok, 1 baseline model"
    assert prepare_records(records[2:]).describe_skipped() == "none skipped"


def test_incompatible_records_are_refused(records):
    with pytest.raises(MetaError, match="record_version 99"):
        prepare_records([{**records[0], "record_version": 99}])
    with pytest.raises(MetaError, match="incompatible version"):
        prepare_records([{**records[0], "model": {**records[0]["model"], "dh": records[0]["model"]["dh"] + 5}}])
    with pytest.raises(MetaError, match="not a balancedrnn run record"):
        prepare_records([{"foo": 1}])


def test_too_few_records_says_how_many_are_needed(records):
    with pytest.raises(TooFewRecords) as e:
        MetaPredictor().fit(records[:4])
    msg = str(e.value)
    assert "need at least 10 usable run records" in msg and "got 4" in msg and "\n" not in msg


# -------------------------------------------------------------------------------------- evaluation
def test_grouped_cv_never_puts_one_config_on_both_sides(records, data):
    def config_without_seed(r):
        return json.dumps({k: v for k, v in r["config"].items() if k != "seed"}, sort_keys=True)

    ids = np.array([config_without_seed(r) for r in records])
    assert len(set(ids)) == len(records) // 3  # three seeds per config
    splits = held_out_splits(data, 5)
    assert len(splits["grouped"]) == 5
    for train, test in splits["grouped"]:
        assert not set(ids[train]) & set(ids[test])
    for train, test in splits["lodo"]:
        assert len(set(data.task[test])) == 1 and not set(data.task[train]) & set(data.task[test])


def test_forest_finds_the_hidden_proportion(evaluation):
    imp = evaluation.importances
    assert imp["regressor_mean"].idxmax() == "hidden_proportion"
    assert imp["classifier_mean"].idxmax() == "hidden_proportion"
    assert (imp["regressor_std"] > 0).any()
    for metric in ("r2", "spearman", "balanced_accuracy"):
        forest = score(evaluation, "grouped", "forest", metric)
        assert forest > score(evaluation, "grouped", "parameters only", metric) + 0.1, metric
        assert forest > score(evaluation, "grouped", "no hidden proportion", metric), metric
    assert score(evaluation, "grouped", "forest", "r2") > 0.7
    assert score(evaluation, "grouped", "forest", "mae") < score(evaluation, "grouped", "dummy", "mae")
    assert score(evaluation, "grouped", "dummy", "balanced_accuracy") == pytest.approx(1 / 3)
    assert math.isfinite(score(evaluation, "grouped", "parent network", "r2"))
    assert math.isfinite(score(evaluation, "lodo", "forest", "top_pick"))
    md = evaluation.to_markdown()
    assert "| forest |" in md and "Leave-one-data-set-out" in md and "| hidden_proportion |" in md


def test_leave_one_budget_out_and_the_hidden_proportion_gain():
    records = (synthetic_records(n_configs=25, seeds=2, tasks=("rad",), budget=20_000, seed=1)
               + synthetic_records(n_configs=25, seeds=2, tasks=("rad",), budget=40_000, seed=2)
               + synthetic_records(n_configs=25, seeds=2, tasks=("ts:BasicMotions",), budget=20_000, seed=3))
    data = prepare_records(records)
    splits = held_out_splits(data, n_splits=5)
    assert len(splits["lobo"]) == 2  # only rad has two budgets
    budget = data.X["budget"].to_numpy()
    for tr, te in splits["lobo"]:
        held = set(zip(data.task[te], budget[te]))
        assert len(held) == 1 and not held & set(zip(data.task[tr], budget[tr]))
    ev = evaluate(data, n_splits=5, n_estimators=30, n_repeats=2, parent=False, random_state=0)
    gain = ev.hp_gain.set_index(["split", "metric"])
    for split in ("grouped", "lodo", "lobo"):  # the metric depends only on the hidden proportion
        assert gain.loc[(split, "spearman"), "mean"] > 0.05, split
        assert gain.loc[(split, "mae"), "mean"] < 0, split
    assert gain.loc[("lobo", "r2"), "folds"] == 2
    md = ev.to_markdown()
    assert "Leave-one-budget-out" in md and "What the hidden proportion adds" in md


def test_grouped_folds_of_one_run_each_are_refused_in_one_line():
    """As many splits as configs of one run each held out one run per fold, and the importances (scored on a held-out
    fold) failed at the end with numpy's "need at least one array to concatenate"; it is refused up front, naming a
    number of splits that works."""
    data = prepare_records(synthetic_records(n_configs=12, seeds=1, tasks=("rad",)))
    with pytest.raises(TooFewRecords, match=r"^grouped 12-fold CV over 12 runs of 12 configs holds out one run per fold: "
                                            r"permutation importances need two; give fewer splits \(--n-splits 6\)$"):
        evaluate(data, n_splits=20, n_estimators=5, n_repeats=1, parent=False)
    assert len(evaluate(data, n_splits=6, n_estimators=5, n_repeats=1, parent=False).importances) == len(FEATURES)


def test_evaluation_is_seeded(data):
    # small forests and a short parent network: what is checked is the seeding, not the numbers
    light = dict(n_splits=5, n_estimators=10, n_repeats=1, parent=True, parent_params={"epochs": 20})
    first, again, other = (evaluate(data, random_state=s, **light) for s in (0, 0, 1))
    assert first.scores.equals(again.scores)
    assert first.importances.equals(again.importances)
    assert not first.importances.equals(other.importances)


# ------------------------------------------------------------------------------------- recommender
@pytest.mark.parametrize("dx,dy,budget", [(2500, 10, 20_000), (6, 4, 20_000), (46, 26, 50_000)])
def test_recommender_returns_feasible_configs_at_the_budget(predictor, dx, dy, budget):
    rec = recommend(dx, dy, budget, predictor, n_candidates=600)
    assert rec.method == "predictor" and rec.predicted_score is not None and rec.candidates > 0
    spec = BlockSpec.from_budget(dx, dy, budget, rec.density)
    assert spec.dh == rec.dh and spec.weights == rec.weights
    assert abs(spec.weights - budget) <= 0.02 * budget
    assert abs(rec.hidden_proportion - 0.5) < 0.12  # the synthetic optimum
    assert rec.predicted_score == pytest.approx(predictor.predict([config_features(dx, dy, budget, rec.density, lr=rec.lr)])[0])
    assert rec.top["predicted"].iloc[0] == pytest.approx(rec.predicted_score)


def test_every_candidate_is_the_model_its_config_string_trains():
    """Candidates are scored as their config string (``Recommendation.config``, what ``train --model`` and ``auto``
    build) writes them, 6 significant digits: scored at full precision, 1 in 40 had other weights than that model
    (up to 5), and one in 14,000 another dh (1,052 shown, 1,051 trained at dx=1, dy=2, budget 4,400)."""
    from balancedrnn.core.configs import config_density, explicit_config

    for dx, dy, budget in [(1, 2, 4400), (1024, 5, 30_000), (2500, 10, 100_000)]:
        for name, density in meta.candidate_densities(dx, dy, budget, 2000, 0):
            assert config_density(explicit_config(density), dx, dy, budget) == density, (dx, dy, budget, name)


@pytest.mark.parametrize("dx,dy,budget", [(784, 26, 100_000), (2500, 2, 50_000), (64, 1, 1_234_567)])
def test_the_rule_shows_the_counts_of_the_model_its_config_trains(dx, dy, budget):
    """The a-priori rule showed the weights of its densities at full precision; its config string (what ``--model
    auto`` trains without a predictor) rounds them and built 1 or 2 weights more or fewer at these shapes."""
    from balancedrnn.core.configs import config_density

    rec = recommend(dx, dy, budget)
    assert rec.method == "balanced rule"
    s = BlockSpec.from_budget(dx, dy, budget, config_density(rec.config, dx, dy, budget)).summary()
    assert (s["dh"], s["weights"], s["hidden_proportion"]) == (rec.dh, rec.weights, rec.hidden_proportion)


def test_recommender_stays_in_the_fitted_hidden_proportion_range():
    # runs only at hidden proportions 0.55..0.9, where the synthetic metric falls: a forest is flat below 0.55, so
    # a candidate there would be a blind guess; the recommendation must stay inside what the runs cover
    recs = [r for r in synthetic_records(n_configs=40, seeds=2, tasks=("rad",), seed=3)
            if 0.55 <= r["model"]["hidden_proportion"] <= 0.9]
    fitted = MetaPredictor(n_estimators=50).fit(recs)
    lo, hi = fitted.hidden_proportion_range_
    assert 0.55 <= lo < hi <= 0.9
    rec = recommend(2500, 10, 20_000, fitted, n_candidates=400)
    assert lo <= rec.hidden_proportion <= hi and "outside the fitted hidden-proportion range" in rec.reason
    assert set(rec.references) == {"uniform:0.2", "balanced"}  # predicted even outside it (balanced: 0.5; dense is infeasible)


def test_the_predictor_follows_scikit_learns_conventions_before_and_after_fit(predictor, data):
    """An unfitted MetaPredictor said ``AttributeError: ... no attribute 'regressor_'`` (and predict_parent that it
    was "fitted without the parent network"), and an array of the wrong width gave pandas' "Shape of passed
    values" error: scikit-learn's NotFittedError and its "X has n features" message instead."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    unfitted = clone(predictor)
    assert unfitted.get_params() == predictor.get_params()
    row = data.X.to_numpy()[:2]
    for method in ("predict", "predict_class", "predict_proba", "predict_parent"):
        with pytest.raises(NotFittedError):
            getattr(unfitted, method)(row)
    with pytest.raises(ValueError, match=f"X has 5 features, but MetaPredictor is expecting {len(FEATURES)}"):
        predictor.predict(row[:, :5])
    with pytest.raises(ValueError, match="X has NaN|contains NaN"):
        predictor.predict(np.where(np.eye(2, len(FEATURES), dtype=bool), np.nan, row))
    assert predictor.predict(row) == pytest.approx(predictor.regressor_.predict(data.X.iloc[:2]))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan"])
def test_a_data_set_characteristic_that_is_not_finite_is_refused_by_name(predictor, value):
    """``--set chance=nan`` (or ``dataset={"chance": nan}``) reached the forest, whose error named no option:
    "Input X contains NaN"."""
    with pytest.raises(MetaError, match="data-set characteristic chance must be a finite number"):
        recommend(2500, 10, 20_000, predictor, n_candidates=50, dataset={"chance": value})


def test_recommender_is_seeded(predictor):
    a = recommend(2500, 10, 20_000, predictor, n_candidates=300, random_state=1)
    b = recommend(2500, 10, 20_000, predictor, n_candidates=300, random_state=1)
    assert a.density == b.density and a.predicted_score == b.predicted_score


def test_recommender_falls_back_to_the_balanced_rule():
    rec = recommend(2500, 10, 100_000)
    assert rec.method == "balanced rule" and rec.predicted_score is None and "a-priori" in rec.reason
    assert rec.hidden_proportion == pytest.approx(0.5, abs=0.01)
    assert BlockSpec.from_budget(2500, 10, 100_000, rec.density).dh == rec.dh


def test_recommender_infeasible_budget_names_the_smallest(predictor):
    with pytest.raises(SpecError) as e:
        recommend(2500, 10, 100, predictor, n_candidates=300)
    msg = str(e.value)
    assert "\n" not in msg and "smallest feasible budget is" in msg
    smallest = int(msg.rsplit(" ", 1)[1])
    rec = recommend(2500, 10, smallest, predictor, n_candidates=300)
    assert abs(rec.weights - smallest) <= 0.02 * smallest
    with pytest.raises(SpecError, match="smallest feasible budget"):
        recommend(2500, 10, 100)


def test_a_budget_above_the_smallest_that_no_candidate_spends_names_one_that_works(predictor):
    """At a hidden size of a few units which budgets work is not monotone (dx 14, dy 10: 14 works, 15-21 do
    not); the error once named 14, below the budget refused. It now names a budget above it that works."""
    refused = 0
    for budget in range(15, 22):
        try:
            recommend(14, 10, budget, predictor)  # the default 2,000 candidates: the smallest is 14
            continue
        except SpecError as e:
            msg = str(e)
        refused += 1
        assert "\n" not in msg and msg.startswith(f"no candidate configuration spends budget {budget} within 2%")
        works = int(msg.split("; budget ", 1)[1].split(" ", 1)[0])
        assert works > budget
        rec = recommend(14, 10, works, predictor)
        assert abs(rec.weights - works) <= 0.02 * works
    assert refused
    with pytest.raises(SpecError, match="the smallest feasible budget is 14"):
        recommend(14, 10, 10, predictor)


def test_too_small_is_said_only_below_every_budget_that_works(predictor):
    """dx=1, dy=26: the Elman RNN spends 28, then no candidate spends 29..39; those budgets were called "too small"
    with "the smallest feasible budget is 40", below which 28 worked. Against a scan of the budgets 20..60."""
    works, refusals = [], {}
    for budget in range(20, 61):
        try:
            recommend(1, 26, budget, predictor, n_candidates=300)
            works.append(budget)
        except SpecError as e:
            refusals[budget] = str(e)
    assert works and works[0] == 28
    for budget, msg in refusals.items():
        assert "\n" not in msg
        if budget < works[0]:
            assert msg.endswith("the smallest feasible budget is 28")
        else:
            assert "too small" not in msg
            named = int(msg.split("; budget ", 1)[1].split(" ", 1)[0])
            assert named > budget and named in works


# ----------------------------------------------------------------------------------- save and load
def test_save_load_round_trip_and_schema_refusal(predictor, data, tmp_path):
    path = save_predictor(predictor, tmp_path / "p.pkl")
    loaded = load_predictor(path)
    assert np.array_equal(loaded.predict(data.X), predictor.predict(data.X))
    assert np.array_equal(loaded.predict_proba(data.X), predictor.predict_proba(data.X))
    payload = pickle.loads(path.read_bytes())
    assert payload["schema"]["features"] == list(FEATURES) and "scikit-learn" in payload["versions"]
    payload["schema"] = {"schema_version": 0, "features": list(FEATURES[:-1])}
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(payload))
    with pytest.raises(MetaError, match="feature schema") as e:
        load_predictor(tmp_path / "old.pkl")
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(MetaError, match="cannot read predictor file"):
        load_predictor(tmp_path / "junk.pkl")


def test_a_file_of_other_library_versions_loads_with_one_warning(predictor, data, tmp_path, cli):
    """A predictor pickled under another scikit-learn loads with one warning naming it, not one per tree."""
    run = cli  # in this process: no interpreter start per command
    import sklearn

    now = sklearn.__version__.encode()
    other = b"0" * len(now)  # the same length: the pickle's string lengths stay right
    raw = save_predictor(predictor, tmp_path / "p.pkl").read_bytes()
    (tmp_path / "other.pkl").write_bytes(raw.replace(now, other))
    with warnings.catch_warnings(record=True) as caught:  # plain pickle: scikit-learn warns for every estimator
        warnings.simplefilter("always")
        pickle.loads(raw.replace(now, other))
    assert sum("Trying to unpickle estimator" in str(w.message) for w in caught) > predictor.n_estimators
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_predictor(tmp_path / "other.pkl")
    assert [type(w.message) for w in caught] == [meta.PredictorVersionWarning], [str(w.message) for w in caught]
    assert f"scikit-learn {other.decode()} (here {now.decode()})" in str(caught[0].message)
    assert np.array_equal(loaded.predict(data.X), predictor.predict(data.X))
    with warnings.catch_warnings(record=True) as caught:  # the same versions: no warning
        warnings.simplefilter("always")
        load_predictor(tmp_path / "p.pkl")
    assert caught == []
    warning = [f"warning: {caught_message(tmp_path)}"]  # the command line: one line
    res = run(["predictor", "show", str(tmp_path / "other.pkl")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stderr.splitlines() if line.strip()] == warning
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100000", "--predictor", str(tmp_path / "other.pkl")],
              tmp_path)
    assert res.returncode == 0 and "recommendation for dx=2500" in res.stdout, res.stderr
    assert [line for line in res.stderr.splitlines() if line.strip()] == warning
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100", "--predictor", "other.pkl"], tmp_path)
    one_line_error(res, "too small")  # a bad input's error alone: the warning goes with a recommendation only


def test_version_differences_name_what_changes_predictions():
    import sklearn

    major = int(np.__version__.split(".")[0])
    same = {"scikit-learn": sklearn.__version__, "numpy": f"{major}.0.0", "torch": "1.0"}  # numpy's minor, torch: no
    assert meta.version_differences(same) == []
    assert meta.version_differences({}) == []  # a file without versions: nothing to compare
    other = {**same, "scikit-learn": "1.0.0", "numpy": f"{major - 1}.26.4"}
    assert meta.version_differences(other) == [f"scikit-learn 1.0.0 (here {sklearn.__version__})",
                                               f"numpy {major - 1}.26.4 (here {np.__version__})"]


def caught_message(tmp_path):
    """The warning's text as :func:`load_predictor` words it, for the file ``other.pkl`` in ``tmp_path``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_predictor(tmp_path / "other.pkl")
    return str(caught[0].message)


def test_numpy_2_pickles_read_under_numpy_1(monkeypatch):
    """numpy 2 pickles name ``numpy._core``; under numpy 1.x (pyproject allows 1.26) that module is ``numpy.core``."""
    asked = []

    class Recorder(pickle.Unpickler):  # stands behind the unpickler's super(): records the module it is asked for
        def find_class(self, module, name):
            asked.append(module)
            return super().find_class(module, name)

    class Spy(meta._PredictorUnpickler, Recorder):
        pass

    monkeypatch.setattr(np, "__version__", "2.3.5")
    here = Spy(io.BytesIO(b"")).find_class("numpy._core.multiarray", "_reconstruct")
    assert asked == ["numpy._core.multiarray"]  # numpy 2: as it is
    asked.clear()
    monkeypatch.setattr(np, "__version__", "1.26.4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2's numpy.core shim warns
        assert Spy(io.BytesIO(b"")).find_class("numpy._core.multiarray", "_reconstruct") is here
    assert asked == ["numpy.core.multiarray"]
    asked.clear()
    Spy(io.BytesIO(b"")).find_class("sklearn.tree._tree", "Tree")  # other modules stay as they are
    assert asked == ["sklearn.tree._tree"]


# ---------------------------------------------------------------------------------------------- CLI
def run(args, cwd):
    env = {**os.environ, "BALANCEDRNN_CACHE": str(cwd / "cache"), "BALANCEDRNN_OFFLINE": "1"}
    return subprocess.run(BIN + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def one_line_error(res, pattern):
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]


def write_records(directory, records):
    directory.mkdir(parents=True, exist_ok=True)
    for r in records:
        (directory / f"{r['trial_key'].replace(':', '_')}.json").write_text(json.dumps(r))
    return directory


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """The command line in this process (its real entry point; no interpreter start per command)."""
    import types

    from clihelp import cli_env, run_main_full

    cli_env(tmp_path, monkeypatch)

    def call(args, cwd=None):
        code, out, err = run_main_full(args, capsys)
        return types.SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return call


def test_cli_end_to_end(tmp_path, cli):
    run = cli
    write_records(tmp_path / "recs", synthetic_records(n_configs=12, seeds=2))
    res = run(["predictor", "fit", "--records", "recs", "--out", "p.pkl", "--n-estimators", "30"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "fitted on 48 runs of 2 task(s)" in res.stdout and (tmp_path / "p.pkl").exists()
    res = run(["predictor", "show", "p.pkl"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"schema {meta.SCHEMA_VERSION}" in res.stdout and "scikit-learn" in res.stdout and "ts:BasicMotions" in res.stdout
    res = run(["predictor", "evaluate", "--records", "recs", "--out-dir", "rep", "--n-estimators", "30", "--repeats", "2",
               "--n-splits", "3", "--quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Leave-one-data-set-out" in res.stdout and "parent network" in res.stdout
    assert "Warning" not in res.stderr and "Traceback" not in res.stderr
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| parameters only |" in report and "| no hidden proportion |" in report
    for png in ("predicted_vs_actual.png", "importances.png", "metric_vs_hidden_proportion.png"):
        assert (tmp_path / "rep" / png).read_bytes()[:4] == b"\x89PNG"
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "20000", "--predictor", "p.pkl", "--candidates", "300"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "method: predictor" in res.stdout and "config: hx=" in res.stdout
    res = run(["recommend", "--dx", "100", "--dy", "3", "--budget", "30000", "--records", "recs", "--candidates", "300",
               "--set", "chance=0.5"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "method: predictor" in res.stdout
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100000"], tmp_path)
    assert res.returncode == 0, res.stderr
    if meta.default_predictor() is None:  # a build without the shipped predictor: the a-priori rule
        assert "method: balanced rule" in res.stdout and "0.501" in res.stdout
    else:  # the package ships the zoo predictor (issue 18): it is the default
        assert "method: predictor: maximised the zoo predictor" in res.stdout and "predicted validation curve" in res.stdout


def test_shipped_predictor_records_its_curve_horizon(tmp_path, cli):
    """The shipped zoo predictor knows the longest curve it learnt from (amended into the file without refitting,
    experiments/zoo_amend_horizon.py), so ``recommend --epochs`` past it is flagged; within it, nothing is."""
    predictor = meta.default_predictor()
    if predictor is None:
        pytest.skip("this build carries no shipped predictor")
    assert predictor.epochs_ <= predictor.epochs_max_ <= 1000
    assert predictor.provenance_["amended"]["epochs_max_"] == predictor.epochs_max_
    args = ["recommend", "--task", "ts:Lynx-next5", "--candidates", "200", "--epochs"]
    res = cli([*args, str(predictor.epochs_max_ + 1)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"epochs {predictor.epochs_max_ + 1} (the zoo's curves: 1..{predictor.epochs_max_})" in res.stdout
    res = cli([*args, str(predictor.epochs_max_)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "zoo's curves" not in res.stdout


def test_cli_bad_input(tmp_path, cli):
    run = cli
    recs = synthetic_records(n_configs=2, seeds=1, tasks=("rad",))
    write_records(tmp_path / "few", recs)
    one_line_error(run(["predictor", "fit", "--records", "few", "--out", "p.pkl"], tmp_path), "need at least 10 usable run records")
    write_records(tmp_path / "old", [{**r, "record_version": 99} for r in recs])
    one_line_error(run(["predictor", "evaluate", "--records", "old"], tmp_path), "record_version 99")
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps({"format": meta.PREDICTOR_FORMAT, "schema": {"schema_version": 0}}))
    one_line_error(run(["recommend", "--dx", "10", "--dy", "2", "--budget", "5000", "--predictor", "bad.pkl"], tmp_path),
                   "feature schema")
    one_line_error(run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100"], tmp_path), "smallest feasible budget")
    # with too few runs the recommender says so and falls back to the rule
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100000", "--records", "few"], tmp_path)
    assert res.returncode == 0 and "method: balanced rule" in res.stdout and "need at least 10" in res.stdout
    # ... and --lr/--epochs were dropped silently there: they go into the train command printed, --set is said unused
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "100000", "--records", "few", "--lr", "0.01",
               "--epochs", "7", "--set", "chance=0.1"], tmp_path)
    assert res.returncode == 0 and "method: balanced rule" in res.stdout, res.stderr
    rule = recommend(2500, 10, 100_000)
    assert res.stdout.split("train it")[1].split("): ", 1)[1].split() == [
        "balancedrnn", "train", "--data", "FILE", "--model", rule.config, "--budget", "100000", "--lr", "0.01",
        "--epochs", "7"]
    assert res.stderr == ("warning: --set is read by a predictor; the a-priori rule scores no candidate and did not "
                          "use it\n")


def test_cli_reads_several_studies_of_a_store(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from balancedrnn.sweep import store
    from balancedrnn.cli import main

    recs = synthetic_records(n_configs=6, seeds=1)
    st = store.open_storage(str(tmp_path / "s.journal"))
    for name, part in (("a", recs[:6]), ("b", recs[6:])):
        study = store.open_study(st, name)
        for r in part:
            store.finish(study, study.ask(), r)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["predictor", "fit", "--storage", "s.journal", "--name", "a", "--name", "b", "--out", "p.pkl", "--n-estimators", "10"])
    assert e.value.code in (0, None)
    assert load_predictor(tmp_path / "p.pkl").n_records_ == 12
    # a study named twice was read twice: its runs counted double in the forest, and "fitted on 18 runs"
    with pytest.raises(SystemExit) as e:
        main(["predictor", "fit", "--storage", "s.journal", "--name", "a", "--name", "b", "--name", "a", "--out", "p.pkl",
              "--n-estimators", "10"])
    assert e.value.code in (0, None)
    assert load_predictor(tmp_path / "p.pkl").n_records_ == 12
    from balancedrnn.analysis.zoopred import load_zoo_records

    records, names = load_zoo_records(str(tmp_path / "s.journal"), ["b", "b"])
    assert names == ["b"] and len(records) == 6


def test_a_predictor_is_not_fitted_on_runs_that_cannot_rank_configurations():
    """Runs of one configuration only (seeds of it), or runs that all scored the same (nothing trained), teach
    nothing about which configuration is better; such a predictor once "recommended" its one config, or the first
    candidate, without a word."""
    one = [r for r in synthetic_records(n_configs=1, seeds=12, tasks=("rad",))]
    assert len(one) == 12
    with pytest.raises(TooFewRecords, match="hold one configuration only"):
        MetaPredictor(n_estimators=5).fit(one)
    flat = [{**r, "final": {**r["final"], "value": 0.1}} for r in synthetic_records(n_configs=10, seeds=3, tasks=("rad",))]
    with pytest.raises(TooFewRecords, match=r"every one of the 30 usable run records scored 0\.1"):
        MetaPredictor(n_estimators=5).fit(flat)


def test_recommend_trains_as_long_as_the_predictors_runs_and_flags_an_lr_outside_them(records, tmp_path, cli):
    """A predictor fitted with ``predictor fit`` ranks configs as its runs were trained: the printed train command
    carries their epochs (the median; here 1, the records' own), and an ``--lr`` outside its runs' lr range is named
    (lr is one of its features: the prediction extrapolates there); inside it, nothing is said."""
    run = cli  # in this process: no interpreter start per command
    predictor = MetaPredictor(n_estimators=20).fit(records)
    lrs = [r["config"]["lr"] for r in records]
    assert predictor.epochs_ == 1 and predictor.lr_range_ == (min(lrs), max(lrs))
    longer = [{**r, "config": {**r["config"], "epochs": 7 if i % 3 else 5}} for i, r in enumerate(records)]
    assert MetaPredictor(n_estimators=5).fit(longer).epochs_ == 7
    assert recommend(2500, 10, 20_000, predictor, n_candidates=200).epochs == 1
    assert "outside its runs' lr range" in recommend(2500, 10, 20_000, predictor, n_candidates=200, lr=0.5).reason
    assert "lr range" not in recommend(2500, 10, 20_000, predictor, n_candidates=200, lr=float(np.median(lrs))).reason
    # likewise a task of a kind none of its runs had (--regression was predicted for silently)
    assert all(t["classification"] for t in predictor.tasks_.values())
    assert "its runs are all classification, so its prediction for a regression task extrapolates" in recommend(
        2500, 10, 20_000, predictor, n_candidates=200, classification=False).reason
    assert "its runs are all" not in recommend(2500, 10, 20_000, predictor, n_candidates=200).reason
    save_predictor(predictor, tmp_path / "p.pkl")
    res = run(["recommend", "--dx", "2500", "--dy", "10", "--budget", "20000", "--predictor", "p.pkl",
               "--candidates", "200", "--lr", "0.5"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--epochs 1" in res.stdout.split("train it as")[1] and "outside its runs' lr range" in res.stdout


def test_recommend_trains_at_the_init_scale_of_the_predictors_runs(records, tmp_path, cli):
    """A predictor fitted on runs initialised with ``init_scale: density`` printed "train it as the predictor's runs
    were trained (lr ...)" and a train command without --init-scale, which trains at ``fixed``: another
    initialisation than the one its predictions are for. Runs of several scales are said to be mixed."""
    density = [{**r, "config": {**r["config"], "init_scale": "density"}} for r in records]
    predictor = MetaPredictor(n_estimators=10).fit(density)
    assert predictor.init_scales_ == {"density": len(records)}
    rec = recommend(2500, 10, 20_000, predictor, n_candidates=100)
    assert rec.init_scale == "density" and rec.train_args()[-2:] == ["--init-scale", "density"]
    save_predictor(predictor, tmp_path / "p.pkl")
    res = cli(["recommend", "--dx", "2500", "--dy", "10", "--budget", "20000", "--predictor", "p.pkl", "--candidates", "100"])
    assert res.returncode == 0, res.stderr
    assert "--init-scale density" in res.stdout.split("train it as")[1]
    assert MetaPredictor(n_estimators=10).fit(records).init_scales_ == {"fixed": len(records)}  # records without one
    mixed = MetaPredictor(n_estimators=10).fit([r if i % 2 else density[i] for i, r in enumerate(records)])
    rec = recommend(2500, 10, 20_000, mixed, n_candidates=100)
    assert rec.init_scale is None and "--init-scale" not in rec.train_args()
    assert f"its runs mix init scales (density {(len(records) + 1) // 2}, fixed {len(records) // 2})" in rec.reason


def test_zoo_only_options_are_refused_where_no_zoo_predictor_reads_them(records, tmp_path, cli):
    """--steps and --n-train are features of the zoo predictor only; with a predictor file of `predictor fit`, or
    one fitted now on --records, they were accepted and dropped without a word (the same recommendation as without
    them). Now one line, exit 2; --epochs, which sets the printed train command's length, stays."""
    run = cli  # in this process: no interpreter start per command
    save_predictor(MetaPredictor(n_estimators=10).fit(records), tmp_path / "p.pkl")
    write_records(tmp_path / "recs", records)
    args = ["recommend", "--dx", "2500", "--dy", "10", "--budget", "20000", "--candidates", "100"]
    for source in (["--predictor", "p.pkl"], ["--records", "recs"]):
        for extra, said in ((["--steps", "50"], "--steps is read"), (["--steps", "50", "--n-train", "30"], "--steps, --n-train are read")):
            one_line_error(run([*args, *source, *extra], tmp_path), said + " by the zoo predictor")
    res = run([*args, "--predictor", "p.pkl", "--epochs", "3"], tmp_path)
    assert res.returncode == 0 and "--epochs 3" in res.stdout.split("train it as")[1], res.stderr



def test_recommend_data_takes_the_kind_of_task_from_the_file(tmp_path, cli):
    """The command line classifies a --data file (`train --data` trains a classifier on it), but `recommend --data
    F --regression` scored the candidates as regression and printed a `train --data F` command that classifies: the
    option was honoured by the recommender and ignored by the command it printed. Now refused in one line, as
    --regression with a classification --task is."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(30, 3, 20)), y=np.arange(30) % 2)
    res = cli(["recommend", "--data", str(tmp_path / "d.npz"), "--regression", "--candidates", "100"])
    one_line_error(res, "--regression: the command line classifies a --data file (d.npz has 2 classes)")
    res = cli(["recommend", "--data", str(tmp_path / "d.npz"), "--candidates", "100"])
    assert res.returncode == 0, res.stderr
    rec = meta.recommend_config(3, 2, float(res.stdout.split("budget ")[1].split()[0]), regression=False, n_candidates=100,
                                task={"T": 20.0, "n_train": 18.0})
    assert f"config: {rec.config}" in res.stdout


def test_paths_with_brackets_are_printed_as_given_not_read_as_markup(predictor, tmp_path, cli):
    """Rich read ``[v2]`` in ``exp[v2]/d.npz`` as a style tag and dropped it: the train command ``recommend`` printed
    named another file (``exp/d.npz``), and ``predictor show``, ``predictor fit`` named paths that do not exist."""
    import shlex

    where = tmp_path / "exp[v2]"
    where.mkdir()
    rng = np.random.default_rng(0)
    np.savez(where / "d.npz", X=rng.normal(size=(30, 3, 20)), y=np.arange(30) % 2)
    res = cli(["recommend", "--data", "exp[v2]/d.npz", "--candidates", "50"])
    assert res.returncode == 0, res.stderr
    assert f"balancedrnn train --data {shlex.quote('exp[v2]/d.npz')} --model" in res.stdout
    meta.save_predictor(predictor, where / "p[bold].pkl")
    res = cli(["predictor", "show", "exp[v2]/p[bold].pkl"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("predictor exp[v2]/p[bold].pkl: schema")
    write_records(tmp_path / "recs", synthetic_records(n_configs=12, seeds=1))
    res = cli(["predictor", "fit", "--records", "recs", "--out", "exp[v2]/q[red].pkl", "--n-estimators", "5"])
    assert res.returncode == 0, res.stderr
    assert "saved: exp[v2]/q[red].pkl" in res.stdout and (where / "q[red].pkl").is_file()


@pytest.mark.parametrize("param,value,pattern", [
    ("epochs", 0, "epochs must be a positive integer, got 0"),
    ("epochs", 2.5, "epochs must be a positive integer, got 2.5"),
    ("batch_size", 0, "batch_size must be a positive integer, got 0"),
    ("learning_rate", 0.0, "learning_rate must be a positive finite number, got 0.0"),
    ("learning_rate", float("nan"), "learning_rate must be a positive finite number"),
    ("hidden_layer_sizes", (0,), r"hidden_layer_sizes must be a tuple of positive integers, got \(0,\)"),
    ("weight_decay", -1.0, "weight_decay must be a non-negative finite number, got -1.0"),
])
def test_parent_network_refuses_parameters_that_train_nothing(param, value, pattern):
    """ParentNetwork with 0 epochs, a zero learning rate or a layer of no units "fitted" and then predicted from its
    untrained initial weights (or a constant), and a batch size of 0 or below was read as 1, all without a word:
    a one-line ValueError naming the parameter, as scikit-learn's own estimators give."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match=pattern):
        ParentNetwork(random_state=0, **{param: value}).fit(X, X[:, 0])


@pytest.mark.parametrize("task,lr", [({"T": 0}, None), ({"n_train": float("nan")}, None), ({"epochs": 2.5}, None),
                                     ({"T": "28"}, None), ({}, 0.0), ({}, float("inf"))])
def test_the_zoo_recommender_refuses_a_size_it_would_replace_by_the_median(task, lr):
    """T=0, a NaN n_train or lr=0 became NaN in the log features, which the forest fills with the zoo's median:
    the recommendation was the one for a task of median length, without a word. They are refused."""
    from balancedrnn.analysis import meta

    with pytest.raises(meta.MetaError, match="must be a positive"):
        meta.recommend_config(28, 10, 20_000, task=task, lr=lr, n_candidates=50)
    meta.recommend_config(28, 10, 20_000, task={"T": 28, "n_train": 1000, "epochs": 3}, n_candidates=50)  # accepted


def test_importance_std_is_the_sample_std_like_every_other_std_of_the_reports(monkeypatch):
    """The importances' ± is the sample standard deviation (ddof 1) over folds x repeats, as the scores' ± and the
    configurations' std are: checked against statistics.stdev of the very drops permutation_importance returned."""
    import statistics

    from balancedrnn.analysis import metareport

    seen = {"r2": [], "balanced_accuracy": []}
    real = metareport.permutation_importance

    def spy(*args, scoring, **kw):
        res = real(*args, scoring=scoring, **kw)
        seen[scoring].append(res.importances)
        return res

    monkeypatch.setattr(metareport, "permutation_importance", spy)
    ev = metareport.evaluate(prepare_records(synthetic_records(n_configs=12, seeds=2, tasks=("rad",))), n_splits=3,
                             n_estimators=5, n_repeats=2, parent=False, random_state=0)
    for scoring, col in (("r2", "regressor"), ("balanced_accuracy", "classifier")):
        drops = np.concatenate(seen[scoring], axis=1)
        for i, feature in enumerate(ev.importances.index):
            values = [float(v) for v in drops[i]]
            assert ev.importances.loc[feature, f"{col}_mean"] == pytest.approx(statistics.fmean(values))
            assert ev.importances.loc[feature, f"{col}_std"] == pytest.approx(statistics.stdev(values))
