"""The zoo predictor (issue 18): pooled target and features, leave-one-task-out, the parent network's curves, the
shipped-file format and the recommender and command line on it. Made-up records built with the library's own
counting, so everything runs in seconds."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from clihelp import cli_env, run_main_full  # noqa: E402

from balancedrnn.analysis import meta, zoopred  # noqa: E402
from balancedrnn.analysis.zoo import dimensionless_features  # noqa: E402
from balancedrnn.core.spec import BLOCKS, BlockSpec, SpecError, density_for_hidden_proportion, spends_budget  # noqa: E402
from balancedrnn.record import RECORD_VERSION  # noqa: E402

# made-up tasks (not registered: chance comes from the record, 1/dy or skill 0), of different shapes
SHAPES = {"toy-wide": (400, 4, "last"), "toy-mid": (40, 8, "last"), "toy-narrow": (6, 3, "last"),
          "toy-reg": (20, 5, "all")}


def best_hp(dx: int, dy: int) -> float:
    """The made-up optimum: balanced for wide inputs, denser recurrence for narrow ones."""
    return float(np.clip(0.35 + 0.1 * math.log10(dx / dy), 0.1, 0.9))


def zoo_records(tasks=SHAPES, n_configs: int = 24, seed: int = 0, epochs: int = 3) -> list[dict]:
    """Records shaped like the zoo sweep's: hidden proportions spread over the range at two budgets; the value is
    a bump around :func:`best_hp` of the task's shape; the validation curve rises to it."""
    rng = np.random.default_rng(seed)
    out = []
    for task, (dx, dy, loss) in tasks.items():
        classification = loss == "last"
        chance = 1.0 / dy if classification else 0.0
        made = 0
        while made < n_configs:
            budget = float([1500, 4000][made % 2])
            base = dict(zip(BLOCKS, np.clip(np.abs(rng.normal(0.5, 0.25, 6)), 0.02, 1.0)))
            density = None
            for block in ("hx", "hh"):
                try:
                    density = density_for_hidden_proportion(dx, dy, budget, rng.uniform(0.05, 0.9), base, block=block)
                    break
                except SpecError:
                    continue
            if density is None or not spends_budget(dx, dy, budget, density, 0.02):
                continue
            summary = {"kind": "block", **BlockSpec.from_budget(dx, dy, budget, density).summary()}
            hp = summary["hidden_proportion"]
            top = 0.9 if classification else 0.7
            value = chance + (top - chance) * math.exp(-(((hp - best_hp(dx, dy)) / 0.2) ** 2)) + 0.01 * rng.normal()
            metric = "accuracy" if classification else "skill"
            vals = [chance + (value - chance) * (e + 1) / epochs for e in range(epochs)]
            val_chance = 2.0
            history = {"val": [{"loss": 1.0, metric: v} if classification else {"loss": val_chance * (1 - v)} for v in vals]}
            final = {"metric": metric, "value": value, "val": {}, "test": {}}
            if not classification:
                final["score"] = {"val_chance_mse": val_chance}
            cfg = {"task": task, "model": ",".join(f"{b}={density[b]:.6g}" for b in BLOCKS), "budget": budget,
                   "epochs": epochs, "lr": 2e-3, "seed": 0, "data_seed": 0, "n_train": 500}
            out.append({"record_version": RECORD_VERSION, "trial_key": f"{task}-{made}", "config": cfg, "seed": 0,
                        "status": "ok", "task": {"name": task, "dx": dx, "dy": dy, "loss": loss, "metric": metric},
                        "model": summary, "history": history, "final": final})
            made += 1
    return out


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return zoo_records()


@pytest.fixture(scope="module")
def data(records) -> zoopred.ZooData:
    return zoopred.prepare_zoo(records)


@pytest.fixture(scope="module")
def predictor(data) -> zoopred.ZooPredictor:
    return zoopred.ZooPredictor(n_estimators=30).fit(data)


def test_target_is_the_chance_normalised_score(records, data):
    for task, (dx, dy, loss) in SHAPES.items():
        chance = 1.0 / dy if loss == "last" else 0.0
        values = np.array([r["final"]["value"] for r in records if r["task"]["name"] == task])
        expected = np.maximum((values - chance) / (values.max() - chance), zoopred.TARGET_FLOOR)
        np.testing.assert_allclose(data.y[data.task == task], expected)
        assert data.y[data.task == task].max() == pytest.approx(1.0)
        ranks = data.rank[data.task == task]
        assert ranks.min() == 0.0 and ranks.max() == 1.0
    assert list(data.X.columns) == list(zoopred.FEATURES)


def test_unusable_runs_are_skipped_and_counted(records):
    bad = [dict(records[0], status="failed"), dict(records[1], model={"kind": "lstm"}),
           dict(records[2], final={"metric": "accuracy", "value": float("nan")})]
    d = zoopred.prepare_zoo(records[3:] + bad)
    assert d.skipped == {"not ok": 1, "baseline model": 1, "no finite final metric": 1}
    assert len(d) == len(records) - 3


def test_a_task_never_above_chance_is_left_out(records):
    flat = [dict(r, final={**r["final"], "value": 1.0 / 4}) for r in records if r["task"]["name"] == "toy-wide"]
    d = zoopred.prepare_zoo([r for r in records if r["task"]["name"] != "toy-wide"] + flat)
    assert "toy-wide" not in d.tasks and d.skipped["task never above chance"] == len(flat)
    one = next(iter(d.tasks))  # then too few tasks are left: the error says which runs were left out and why
    d1 = zoopred.prepare_zoo([r for r in records if r["task"]["name"] == one] + flat)
    with pytest.raises(zoopred.ZooError, match=rf"got {len(d1)} runs of 1 task\(s\); left out: {len(flat)} task never above chance"):
        zoopred.ZooPredictor(n_estimators=5, curve=False).fit(d1)


def test_candidate_features_equal_record_features(records):
    """One formula for features: a candidate built from a record's config gives the record's feature row."""
    r = records[5]
    dx, dy = r["task"]["dx"], r["task"]["dy"]
    X, counts = zoopred.candidate_frame(dx, dy, r["config"]["budget"], [r["model"]["density"]], lr=r["config"]["lr"],
                                        T=None, n_train=None, classification=True)  # unregistered: both unknown
    row = dimensionless_features(r)
    for f in zoopred.FEATURES:
        a, b = X.iloc[0][f], row[f]
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), f
    assert counts.iloc[0]["dh"] == r["model"]["dh"]


def test_spearman_is_scipys_on_hand_made_data():
    from scipy.stats import spearmanr

    a = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    b = np.array([1.0, 3.0, 2.0, 5.0, 2.5, 4.0])
    assert zoopred.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert zoopred.spearman(a, -a) == pytest.approx(-1.0)
    assert math.isnan(zoopred.spearman(np.ones(5), b[:5])) and math.isnan(zoopred.spearman(a[:2], b[:2]))


def test_loto_folds_never_contain_the_held_out_task(data):
    folds = zoopred.loto_folds(data.task)
    assert sorted(t for t, _, _ in folds) == sorted(SHAPES)
    for task, train, test in folds:
        assert not (data.task[train] == task).any() and (data.task[test] == task).all()
        assert len(train) + len(test) == len(data) and not set(train) & set(test)


def test_leave_one_task_out_learns_the_made_up_optimum(data):
    table = zoopred.leave_one_task_out(data, n_estimators=30)
    assert sorted(table["task"]) == sorted(SHAPES)
    assert table["forest"].median() > 0.5  # the bump's position follows dx/dy, which the forest sees
    assert {"parent network", "parameter count", "forest without the hidden proportion", "parent curve MAE"} <= set(table.columns)
    s = zoopred.summarize(table)
    assert s.loc["forest", "median"] == pytest.approx(table["forest"].median())
    one = zoopred.leave_one_task_out(data, n_estimators=30, held_out=[table["task"].iloc[1]])
    assert len(one) == 1  # only that fold, the same numbers as in the full table
    pd.testing.assert_frame_equal(one.reset_index(drop=True), table.iloc[[1]].reset_index(drop=True))


def test_parent_network_predicts_curves_and_is_seeded(data, predictor):
    X = data.X.iloc[:4]
    curves = predictor.predict_curve(X, epochs=5)
    assert curves.shape == (4, 5) and np.isfinite(curves).all()
    again = zoopred.ZooPredictor(n_estimators=30).fit(data).predict_curve(X, epochs=5)
    np.testing.assert_array_equal(curves, again)
    with pytest.raises(zoopred.ZooError, match="at least two tasks"):
        zoopred.ZooPredictor().fit(data.subset(data.task == "toy-mid"))


def test_an_unfitted_zoo_predictor_says_so(predictor, data):
    """An unfitted ZooPredictor failed with AttributeError ('fill_', or 'defaults_' from the middle of
    ``recommend_config``): scikit-learn's NotFittedError now, as the per-study predictor's."""
    from sklearn.exceptions import NotFittedError

    unfitted = zoopred.ZooPredictor()
    for call in (lambda: unfitted.predict(data.X), lambda: unfitted.predict_curve(data.X, 3),
                 lambda: unfitted.predict_parent(data.X, 1),
                 lambda: meta.recommend_config(100, 5, 4000, predictor=unfitted, n_candidates=20)):
        with pytest.raises(NotFittedError, match="ZooPredictor is not fitted"):
            call()
    assert np.isfinite(predictor.predict(data.X)).all()


def test_interval_brackets_the_trees(predictor, data):
    lo, hi = predictor.predict_interval(data.X.iloc[:10])
    per_tree = np.stack([t.predict(predictor._X(data.X.iloc[:10])) for t in predictor.forest_.estimators_])
    np.testing.assert_allclose(lo, np.quantile(per_tree, 0.1, axis=0))
    assert (lo <= hi).all()


def test_save_read_and_incompatible_schema(predictor, tmp_path):
    path = meta.save_predictor(predictor, tmp_path / "zoo.pkl", {"store": "store.journal"})
    payload = meta.read_predictor_file(path)
    assert payload["format"] == zoopred.ZOO_FORMAT and payload["provenance"] == {"store": "store.journal"}
    assert path.read_bytes()[:6] == b"\xfd7zXZ\x00"  # xz-compressed, so the shipped file stays small
    assert isinstance(meta.load_predictor(path), zoopred.ZooPredictor)
    payload["schema"] = {**payload["schema"], "schema_version": zoopred.ZOO_SCHEMA_VERSION + 1}
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(payload))
    with pytest.raises(meta.MetaError, match="zoo predictor of schema"):
        meta.read_predictor_file(tmp_path / "old.pkl")


def test_a_predictor_file_of_the_wrong_make_is_one_line(predictor, tmp_path, monkeypatch, capsys):
    """Files that unpickle but are not a predictor's payload (versions that are not a mapping, no predictor in it, a
    zoo predictor under the other format) raised AttributeError or KeyError (a traceback on the command line), and a
    directory was said not to exist; each is now one line, exit 2."""
    path = meta.save_predictor(predictor, tmp_path / "zoo.pkl")
    good = meta.read_predictor_file(path)
    payloads = {"versions.pkl": {**good, "versions": "1.0"}, "nothing.pkl": {k: v for k, v in good.items() if k != "predictor"},
                "swapped.pkl": {**good, "format": meta.PREDICTOR_FORMAT, "schema": meta.feature_schema()}}
    for name, payload in payloads.items():
        (tmp_path / name).write_bytes(pickle.dumps(payload))
    assert meta.read_predictor_file(tmp_path / "versions.pkl")["predictor"].n_records_ == predictor.n_records_
    (tmp_path / "adir.pkl").mkdir()
    for name, message in [("nothing.pkl", "nothing.pkl is not a balancedrnn predictor file (it holds no ZooPredictor)"),
                          ("swapped.pkl", "swapped.pkl is not a balancedrnn predictor file (it holds no MetaPredictor)"),
                          ("adir.pkl", "predictor file adir.pkl is not a file")]:
        for argv in (["predictor", "show", name], ["recommend", "--dx", "6", "--dy", "3", "--predictor", name]):
            code, _, err = _cli(argv, tmp_path, monkeypatch, capsys)
            assert code == 2 and err.strip() == f"error: {message}", (argv, err)


def test_a_predictor_without_what_recommend_reads_is_one_line(predictor, tmp_path, monkeypatch, capsys):
    """A predictor file holding an unfitted predictor, or one saved by a version without an attribute this one reads
    (here the zoo's coverage, or a MetaPredictor's classifier), passed every check of the file and then ended
    ``recommend`` and ``predictor show`` in an AttributeError traceback; ``save_predictor`` wrote an unfitted zoo
    predictor without a word. Now: one line naming what is missing, exit 2; and saving refuses."""
    import copy

    good = meta.read_predictor_file(meta.save_predictor(predictor, tmp_path / "zoo.pkl"))
    old = copy.copy(predictor)
    del old.coverage_
    unfitted_meta = meta.MetaPredictor()
    files = {"old.pkl": ({**good, "predictor": old}, "ZooPredictor without coverage_"),
             "unfitted.pkl": ({**good, "predictor": zoopred.ZooPredictor()}, "ZooPredictor without forest_, parent_"),
             "meta.pkl": ({**good, "format": meta.PREDICTOR_FORMAT, "schema": meta.feature_schema(),
                           "predictor": unfitted_meta}, "MetaPredictor without classifier_, regressor_")}
    for name, (payload, message) in files.items():
        (tmp_path / name).write_bytes(pickle.dumps(payload))
        with pytest.raises(meta.MetaError, match=message):
            meta.load_predictor(tmp_path / name)
        for argv in (["predictor", "show", name], ["recommend", "--dx", "100", "--dy", "5", "--budget", "4000",
                                                   "--candidates", "50", "--predictor", name]):
            code, _, err = _cli(argv, tmp_path, monkeypatch, capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and "refit it" in err, (argv, err)
    for unfitted in (zoopred.ZooPredictor(), unfitted_meta):
        with pytest.raises(meta.MetaError, match="is not fitted"):
            meta.save_predictor(unfitted, tmp_path / "new.pkl")
        assert not (tmp_path / "new.pkl").exists()


def test_recommend_config_uses_the_zoo_predictor(predictor):
    epochs = predictor.epochs_max_  # the longest curve it learnt from: no extrapolation
    rec = meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=300, task={"epochs": epochs})
    assert rec.method == "predictor" and spends_budget(100, 5, 4000, rec.density, 0.02)
    assert rec.interval is not None and rec.interval[0] <= rec.interval[1]
    assert len(rec.curve) == epochs and not rec.shape_outside and rec.outside == []
    lo, hi = predictor.hidden_proportion_range_
    assert lo <= rec.hidden_proportion <= hi
    assert set(rec.references) <= set(meta.REFERENCES)
    assert set(rec.agreement) | ({rec.same_as} - {None}) == set(rec.references) and set(rec.ties) == set(rec.agreement)
    # agreement, against every tree by hand: the recommendation and the named configs rebuilt from their densities
    from balancedrnn.core.configs import config_density

    X, _ = zoopred.candidate_frame(100, 5, 4000, [rec.density, *(config_density(n, 100, 5, 4000) for n in rec.agreement)],
                                   rec.lr, None, None, True)
    per = np.stack([t.predict(predictor._X(X)) for t in predictor.forest_.estimators_])
    assert per[:, 0].mean() == pytest.approx(rec.predicted_score)
    for i, name in enumerate(rec.agreement):
        assert rec.agreement[name] == pytest.approx((per[:, 0] > per[:, 1 + i]).mean())
        assert rec.ties[name] == pytest.approx((per[:, 0] == per[:, 1 + i]).mean())
    far = meta.recommend_config(3, 60, 6000, predictor=predictor, n_candidates=200)
    assert far.shape_outside and any(o.startswith("dx/dy") for o in far.outside)
    with pytest.raises(meta.MetaError, match="unknown task characteristic"):
        meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=50, task={"frames": 3})


def test_recommend_says_when_the_curve_runs_past_the_zoos_epochs(predictor, data):
    """The parent network learnt curves up to the zoo's longest; a longer --epochs is flagged as extrapolation,
    and a predictor saved before the horizon was recorded says nothing rather than guess."""
    horizon = max(len(c) for c in data.curves)  # by hand, from the training curves
    assert predictor.epochs_max_ == horizon
    within = meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=100, task={"epochs": horizon})
    assert not any(o.startswith("epochs") for o in within.outside)
    past = meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=100, task={"epochs": horizon + 5})
    assert len(past.curve) == horizon + 5
    assert [o for o in past.outside if o.startswith("epochs")] == [
        f"epochs {horizon + 5} (the zoo's curves: 1..{horizon})"]
    assert predictor.outside_epochs(float(horizon + 5)) == predictor.outside_epochs(horizon + 5)  # the CLI's float
    import copy

    old = copy.copy(predictor)
    del old.epochs_max_
    assert old.outside_epochs(horizon + 5) == []


def _cli(args, tmp_path, monkeypatch, capsys):
    cli_env(tmp_path, monkeypatch)
    return run_main_full(args, capsys)


def test_cli_recommend_with_a_zoo_predictor(predictor, tmp_path, monkeypatch, capsys):
    meta.save_predictor(predictor, tmp_path / "zoo.pkl")
    monkeypatch.setenv("COLUMNS", "250")  # table headers on one line
    code, out, err = _cli(["recommend", "--dx", "100", "--dy", "5", "--budget", "4000", "--predictor", "zoo.pkl",
                           "--candidates", "200", "--epochs", "3"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert "predicted validation curve" in out and "[" in out and "config: hx=" in out
    # the predicted score is the zoo's within-task rank, not the task's metric: every place it is printed says so
    # (the columns were headed "predicted", the named configs' line "predicted for named configs")
    flat = " ".join(out.split())
    assert flat.count("predicted within-task rank") >= 4  # both tables' headers, the named configs, the key
    assert "predicted within-task rank of named configs at this budget: " in flat
    assert "predicted for named configs" not in flat and "┃ predicted ┃" not in out
    rec = meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=200, task={"epochs": 3})
    assert rec.score_name == "within-task rank"
    code, out, err = _cli(["recommend", "--dx", "3", "--dy", "60", "--budget", "6000", "--predictor", "zoo.pkl",
                           "--candidates", "200"], tmp_path, monkeypatch, capsys)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and "outside every shape" in lines[0] and "--extrapolate" in lines[0]
    code, out, err = _cli(["recommend", "--dx", "3", "--dy", "60", "--budget", "6000", "--predictor", "zoo.pkl",
                           "--candidates", "200", "--extrapolate"], tmp_path, monkeypatch, capsys)
    assert code == 0 and "outside what the zoo covers" in out
    code, out, err = _cli(["predictor", "show", "zoo.pkl"], tmp_path, monkeypatch, capsys)
    assert code == 0 and "zoo predictor" in out and "toy-wide" in out and "impurity importances" in out


def test_cli_recommend_bad_tasks_and_files(predictor, tmp_path, monkeypatch, capsys):
    code, _, err = _cli(["recommend", "--task", "no-such-task"], tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "unknown task" in err
    code, _, err = _cli(["recommend", "--task", "rad", "--dx", "3"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "not both" in err
    payload = {"format": zoopred.ZOO_FORMAT, "schema": {"schema_version": 0}, "predictor": predictor}
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(payload))
    code, _, err = _cli(["recommend", "--dx", "10", "--dy", "2", "--predictor", "old.pkl"], tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refit it" in err


def test_cli_recommend_zoo_task_with_missing_data(tmp_path, monkeypatch, capsys):
    """A zoo task the registry lacks here (aeon's files absent) is named as missing data, in one line."""
    from balancedrnn import tasks as registry
    from balancedrnn.tasks import TaskError

    real = registry.get_task

    def recommend_lynx_failing_with(message):
        """``recommend --task ts:Lynx-next5`` with the registry refusing that task with ``message``."""
        def get_task(name):
            if name == "ts:Lynx-next5":
                raise TaskError(message)
            return real(name)

        monkeypatch.setattr(registry, "get_task", get_task)
        code, _, err = _cli(["recommend", "--task", "ts:Lynx-next5"], tmp_path, monkeypatch, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        return err

    err = recommend_lynx_failing_with("unknown task 'ts:Lynx-next5'")  # aeon without that file
    assert "data is missing offline" in err and "known tasks" not in err  # not the registry's list of every task
    err = recommend_lynx_failing_with("task 'ts:Lynx-next5' needs aeon, which is not installed: "
                                      "pip install 'balancedrnn[timeseries]'")
    assert err.count("pip install") == 1 and "--dx/--dy" in err, err  # the install named once


def test_best_configs_per_task(data):
    best = zoopred.best_configs(data)
    assert sorted(best["task"]) == sorted(SHAPES)
    assert list(best["dx_over_dy"]) == sorted(best["dx_over_dy"])
    for _, r in best.iterrows():
        i = np.flatnonzero(data.task == r["task"])
        assert r["best_value"] == data.value[i].max()
    assert isinstance(best, pd.DataFrame)


def test_order_score_is_the_mean_rank_of_forest_and_parent(predictor, data):
    from scipy.stats import rankdata

    X = data.X.iloc[:12]
    f, p = predictor.predict(X), predictor.predict_parent(X, 3)
    expected = ((rankdata(f) - 1) / 11 + (rankdata(p) - 1) / 11) / 2
    np.testing.assert_allclose(predictor.order_score(X, 3), expected if zoopred.ENSEMBLE else f)
    rec = meta.recommend_config(100, 5, 4000, predictor=predictor, n_candidates=200, task={"epochs": 3})
    assert ("parent network" in rec.reason) == zoopred.ENSEMBLE


def _store_with(path, studies: dict[str, list[dict]]) -> str:
    from balancedrnn.sweep import store

    st = store.open_storage(str(path), ".")
    for name, recs in studies.items():
        study = store.open_study(st, name)
        for r in recs:
            store.finish(study, study.ask(), r)
    return str(path)


def test_named_config_trials_join_the_zoo(records, tmp_path):
    """``references``: only the named configs' trials of a zoo_recommend store join the zoo's runs, the
    recommendation's and the oracle's do not, and the provenance counts them."""
    from balancedrnn.core.configs import config_density

    task, (dx, dy, loss) = next(iter(SHAPES.items()))
    base = next(r for r in records if r["config"]["task"] == task)
    named = []
    for i, model in enumerate(["dense", "uniform:0.2", "balanced", "hx=0.5,hh=0.5,hy=0.5,yx=0.5,yh=0.5,yy=0.5"]):
        density = config_density(model, dx, dy, 4000.0)
        summary = {"kind": "block", **BlockSpec.from_budget(dx, dy, 4000.0, density).summary()}
        named.append({**base, "trial_key": f"named-{i}", "config": {**base["config"], "model": model, "budget": 4000.0},
                      "model": summary})
    zoo_store = _store_with(tmp_path / "zoo.journal", {"zoo-toy": records})
    ref_store = _store_with(tmp_path / "rec.journal", {"zoo-recommend-toy": named, "other": named})
    got = zoopred.load_reference_records(ref_store)
    assert sorted(r["config"]["model"] for r in got) == ["balanced", "dense", "uniform:0.2"]
    predictor, provenance = zoopred.fit_zoo_predictor(zoo_store, n_estimators=10, references=ref_store)
    assert provenance["named_config_trials"] == {"store": "rec.journal", "runs": 3}
    assert predictor.n_records_ == len(zoopred.prepare_zoo(records)) + 3


@pytest.mark.parametrize("url, name", [("postgresql://zoo:s3cret@db.lab.example", "postgresql://…/"),
                                       ("postgresql://zoo@db.lab.example/zoo?password=s3cret", "postgresql://…/zoo"),
                                       ("postgresql://zoo:s3cret@db.lab.example:5432/zoo", "postgresql://…/zoo")])
def test_the_provenance_of_a_database_store_holds_no_password(records, monkeypatch, url, name):
    """The provenance names a database store by scheme and database only: a URL without a database path kept its
    credentials (``postgresql://…/zoo:s3cret@db.lab.example``), and a ``?password=`` query was kept whole."""
    monkeypatch.setattr(zoopred, "load_zoo_records", lambda storage, names=None, prefix="zoo-": (records, ["zoo-toy"]))
    monkeypatch.setattr(zoopred, "load_reference_records", lambda storage: [])
    _, provenance = zoopred.fit_zoo_predictor(url, n_estimators=5)
    assert "s3cret" not in repr(provenance) and "db.lab.example" not in repr(provenance)
    assert provenance["store"] == name


def test_cli_references_bad_input(tmp_path, monkeypatch, capsys):
    code, _, err = _cli(["predictor", "fit", "--records", "recs", "--references", "rec.journal"], tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "give it with --zoo" in err
    code, _, err = _cli(["predictor", "fit", "--zoo", "--storage", "zoo.journal", "--references", "rec.journal"],
                        tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--references: no store at rec.journal" in err


def test_a_references_store_without_named_config_trials_is_refused(records, tmp_path, monkeypatch, capsys):
    """``--references`` naming a store without the named configs' trials (the zoo's own store, say) fitted a predictor
    without them and said only ``runs 0`` in its provenance; it is a one-line error, and nothing is written."""
    _store_with(tmp_path / "zoo.journal", {"zoo-toy": records})
    _store_with(tmp_path / "rec.journal", {"zoo-recommend-toy": [r for r in records if r["config"]["task"] == "toy-mid"]})
    for refs in ("zoo.journal", "rec.journal"):  # no zoo-recommend-* study; one without dense, uniform:0.2, balanced
        code, _, err = _cli(["predictor", "fit", "--zoo", "--storage", "zoo.journal", "--references", refs,
                             "--n-estimators", "5", "--out", "z.pkl"], tmp_path, monkeypatch, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"no trials of the named configs (dense, uniform:0.2, balanced) in studies named zoo-recommend-… of {refs}" in err
        assert not (tmp_path / "z.pkl").exists()


def test_cli_fits_the_zoo_predictor_on_the_studies_of_a_prefix(records, tmp_path, monkeypatch, capsys):
    """``--study-prefix long4-`` fits on the longer sweep's studies only (never the ``zoo-`` ones beside them), and
    a prefix that names no study, or one given without --zoo, is a one-line error."""
    toy = [r for r in records if r["config"]["task"] in ("toy-wide", "toy-mid")]
    longer = [r for r in records if r["config"]["task"] in ("toy-narrow", "toy-reg")]
    _store_with(tmp_path / "zoo.journal", {"zoo-toy": toy, "long4-toy": longer})
    code, out, err = _cli(["predictor", "fit", "--zoo", "--storage", "zoo.journal", "--study-prefix", "long4-",
                           "--n-estimators", "10", "--out", "long4.pkl"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    fitted = meta.load_predictor(tmp_path / "long4.pkl")
    assert sorted(fitted.tasks_) == ["toy-narrow", "toy-reg"] and fitted.provenance_["studies"] == ["long4-toy"]
    assert fitted.n_records_ == len(zoopred.prepare_zoo(longer))
    code, _, err = _cli(["predictor", "fit", "--zoo", "--storage", "zoo.journal", "--study-prefix", "long10-",
                         "--out", "x.pkl"], tmp_path, monkeypatch, capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "no runs in studies named long10-" in err
    code, _, err = _cli(["predictor", "fit", "--storage", "zoo.journal", "--study-prefix", "long4-"],
                        tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "give it with --zoo" in err


def test_the_predictor_keeps_its_runs_init_scale(records):
    """A forest has no init-scale feature, so its ranks hold for models initialised as its runs were: it keeps
    their init scale (records without one ran at the default, ``fixed``), refuses runs that mix scales, and the
    recommendation carries the scale into the ``train`` options it gives."""
    import copy

    fixed = zoopred.ZooPredictor(n_estimators=5, curve=False).fit(zoopred.prepare_zoo(records))
    assert fixed.training_init_scale == "fixed"
    density = [{**r, "config": {**r["config"], "init_scale": "density"}} for r in records]
    fitted = zoopred.ZooPredictor(n_estimators=5, curve=False).fit(zoopred.prepare_zoo(density))
    assert fitted.init_scale_ == fitted.training_init_scale == "density"
    rec = meta.recommend_config(100, 5, 4000, predictor=fitted, n_candidates=100)
    args = rec.train_args()
    assert rec.init_scale == "density" and args[args.index("--init-scale") + 1] == "density"
    assert args[args.index("--model") + 1] == rec.config and float(args[args.index("--budget") + 1]) == 4000
    assert float(args[args.index("--lr") + 1]) == pytest.approx(rec.lr, rel=1e-3)
    mixed = zoopred.prepare_zoo(records[:40] + density[40:])
    assert len(mixed) == len(records) and mixed.init_scales() == {"density": len(records) - 40, "fixed": 40}
    assert mixed.subset(np.arange(len(mixed)) < 10).init_scales() == {"fixed": 10}
    with pytest.raises(zoopred.ZooError, match=r"the runs mix init scales \(density \d+, fixed \d+ runs\)"):
        zoopred.ZooPredictor(n_estimators=5, curve=False).fit(mixed)
    old = copy.copy(fitted)
    del old.init_scale_  # a file saved before the attribute: every zoo run then used the fixed init
    assert old.training_init_scale == "fixed"


def test_cli_recommend_prints_a_train_command_that_runs(predictor, tmp_path, monkeypatch, capsys):
    """The recommendation ends with the ``balancedrnn train`` command that trains it as the predictor's runs were
    trained; that command, run as printed (one epoch), trains the recommended densities at that lr and init."""
    pytest.importorskip("aeon")
    import json
    import shlex

    meta.save_predictor(predictor, tmp_path / "zoo.pkl")
    code, out, err = _cli(["recommend", "--task", "ts:JapaneseVowels", "--predictor", "zoo.pkl", "--candidates", "100",
                           "--epochs", "1", "--extrapolate"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("train it as the predictor's runs were trained"))
    argv = shlex.split(line.split("): ", 1)[1])
    assert argv[:4] == ["balancedrnn", "train", "--task", "ts:JapaneseVowels"] and argv[-2:] == ["--epochs", "1"]
    assert argv[argv.index("--init-scale") + 1] == "fixed"
    config = next(x for x in out.splitlines() if x.startswith("config: ")).removeprefix("config: ")
    assert argv[argv.index("--model") + 1] == config
    code, _, err = _cli([*argv[1:], "-q", "--out-dir", "trained"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (path,) = (tmp_path / "trained").glob("*.json")
    run = json.loads(path.read_text())
    assert run["status"] == "ok" and run["config"]["init_scale"] == "fixed" and run["config"]["model"] == config
    assert run["config"]["lr"] == float(argv[argv.index("--lr") + 1])
    # by shape alone: the data file is the user's (named in the line), and the epochs are the predicted curve's
    code, out, err = _cli(["recommend", "--dx", "100", "--dy", "5", "--budget", "4000", "--predictor", "zoo.pkl",
                           "--candidates", "100"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("train it as the predictor's runs were trained"))
    assert "FILE: your .npz, .ts or .csv data" in line
    argv = shlex.split(line.split("): ", 1)[1])
    curve = next(x for x in out.splitlines() if x.startswith("predicted validation curve")).split(": ", 1)[1].split()
    assert argv[2:4] == ["--data", "FILE"] and argv[-2:] == ["--epochs", str(len(curve))]


@pytest.mark.parametrize("budget, text", [(1234567.0, "1234567"), (12345.5, "12345.5"), (6200.0, "6200")])
def test_the_train_command_trains_at_the_recommended_budget(predictor, budget, text):
    """The printed ``train`` options carry the budget exactly: ``:g`` wrote 1234567 as ``1.23457e+06``, so the command
    trained (and recorded) budget 1,234,570, another config than the one recommended."""
    rec = meta.recommend_config(100, 5, budget, predictor=predictor, n_candidates=50, task={"T": 20, "n_train": 100})
    args = rec.train_args()
    assert args[args.index("--budget") + 1] == text


def test_a_recommendation_that_is_a_named_config_is_not_compared_with_itself(tmp_path, monkeypatch, capsys):
    """With the shipped predictor, ItalyPowerDemand's shape gets plain dense; the confidence line once said "dense 0%"
    (every tree ties with itself), which reads as the forest preferring dense over the recommendation."""
    rec = meta.recommend_config(1, 2, 4400, predictor="default", task={"T": 24.0, "n_train": 67.0})
    assert rec.method == "predictor" and rec.same_as == "dense" and rec.config == "hx=1,hh=1,hy=1,yx=1,yh=1,yy=1"
    assert "dense" not in rec.agreement and set(rec.agreement) == {"uniform:0.2", "balanced"}
    code, out, err = _cli(["recommend", "--dx", "1", "--dy", "2", "--budget", "4400", "--steps", "24", "--n-train", "67"],
                          tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert "the recommendation is dense" in out and "dense 0%" not in out


def test_recommend_task_assumes_the_training_sequences_train_uses(tmp_path, monkeypatch, capsys):
    """For a task whose training sequences the config sets (the MNIST tasks), ``recommend --task`` assumes the
    command line's default --n-train, as ``train --task ... --model auto`` does; it once assumed the zoo's median and
    chose another config than train trained."""
    from balancedrnn.cli import _auto_model
    from balancedrnn.core.defaults import QUICK
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import predictor_info

    task = get_task("mnist:cols14")
    assert predictor_info(task)["n_train"] == QUICK["n_train"]
    code, out, err = _cli(["recommend", "--task", "mnist:cols14"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    config = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("config: "))
    assert _auto_model("auto", task, float(task.default_budget), {"n_train": QUICK["n_train"]}) == config


def test_model_auto_refuses_a_shape_outside_the_zoo_as_recommend_does(tmp_path, monkeypatch, capsys):
    """``train --model auto`` on dx/dy 0.05 (outside every shape the zoo covers) is the same one-line refusal as
    ``recommend`` (it trained the extrapolated choice silently); the estimators fit it with a warning."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w20.npz", X=rng.normal(size=(60, 1, 8)), y=np.arange(60) % 20)
    code, out, err = _cli(["train", "--data", "w20.npz", "--model", "auto", "--epochs", "1"], tmp_path, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: dx/dy = 0.05 lies outside every shape the zoo predictor was trained on")
    assert not list(tmp_path.glob("runs/**/*.json"))
    from balancedrnn import BlockRNNClassifier

    with pytest.warns(UserWarning, match="lies outside every shape .* fitting it anyway"):
        BlockRNNClassifier("auto", epochs=1).fit(rng.normal(size=(40, 1, 6)), np.arange(40) % 20)


def test_model_auto_with_a_bad_budget_is_one_line_even_when_the_predictor_warns(tmp_path, monkeypatch, capsys):
    """The shipped predictor pickled under another scikit-learn warns when it loads; ``train --model auto`` with a
    budget no candidate can spend printed that warning above its error. As ``recommend`` does, the warning now goes
    with a choice only, and a refusal is the one line (dx=5 here: the smallest budget any candidate spends is 2)."""
    shipped = meta.default_predictor

    def warns():
        import warnings

        warnings.warn("predictor file zoo-predictor.pkl was saved with scikit-learn 0.0", meta.PredictorVersionWarning)
        return shipped()

    monkeypatch.setattr(meta, "default_predictor", warns)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(60, 5, 8)), y=np.arange(60) % 2)
    code, out, err = _cli(["train", "--data", "d.npz", "--model", "auto", "--budget", "1", "--epochs", "1"],
                          tmp_path, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "scikit-learn 0.0" not in err, err
    assert not list(tmp_path.glob("runs/**/*.json"))
    code, out, err = _cli(["train", "--data", "d.npz", "--model", "auto", "--budget", "40", "--epochs", "1"],
                          tmp_path, monkeypatch, capsys)
    assert code == 0 and "scikit-learn 0.0" in err, err  # with a choice, the warning is shown
