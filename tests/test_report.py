"""The reports: bounded intervals, chance lines, readable labels and heat-map numbers, a command that re-runs,
the data source, the per-run table, and the predictor evaluation's HTML page."""

import html
import math
import re
import shlex

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from balancedrnn.reproduce import report as reproreport  # noqa: E402
from balancedrnn.analysis.claims import ci95, config_stats, runs_table  # noqa: E402
from balancedrnn.core.configs import config_density  # noqa: E402
from balancedrnn.reproduce.plan import Reproduction, load_plan  # noqa: E402
from balancedrnn.core.spec import BlockSpec  # noqa: E402
from balancedrnn.train import RECORD_VERSION  # noqa: E402

CONFIGS = ["dense", "110100", "uniform:0.1", "uniform:0.2", "uniform:0.3", "uniform:0.5", "010000", "011010",
           "balanced:0.3", "balanced:0.5", "balanced:0.7"]
"""The rad-100k plan's block configs: five of them have hidden proportions between 0.01 and 0.12."""
SOURCE = "idx files in /data/mnist (t10k, 10000 digits)"


def rad_records(configs=CONFIGS, seeds=2, budget=100_000.0, seed=0):
    """Records shaped like train.run_trial's for RAD configs: accuracies near chance (0.1), as at the smoke scale."""
    rng = np.random.default_rng(seed)
    out = []
    for model in configs:
        summary = {"kind": "block", **BlockSpec.from_budget(2500, 10, budget, config_density(model, 2500, 10, budget)).summary()}
        for s in range(seeds):
            acc = float(np.clip(0.1 + 0.05 * rng.normal(), 0.0, 1.0))
            out.append({"record_version": RECORD_VERSION, "trial_key": f"rad-{model}-{s}", "seed": s, "status": "ok",
                        "config": {"task": "rad", "model": model, "seed": s, "budget": budget, "lr": 1e-3, "epochs": 1},
                        "task": {"name": "rad", "dx": 2500, "dy": 10, "loss": "last", "metric": "accuracy"},
                        "data_source": SOURCE, "model": summary, "wall_time": 1.5 + s,
                        "final": {"metric": "accuracy", "value": acc, "test": {"accuracy": acc}}})
    return out


def reproduction(records):
    return Reproduction(load_plan("rad-100k"), "smoke", records, len(records), [], None)


def captured(monkeypatch, plot, *args):
    """The figure a plotting function of reproreport would save (kept open)."""
    figs = []
    monkeypatch.setattr(reproreport, "save_figure", lambda fig, path, **kw: figs.append(fig) or path)
    plot(*args)
    return figs[0]


# --------------------------------------------------------------------------------------------- intervals
def slow_t_interval(values, low=-math.inf, high=math.inf):
    """The t-interval by hand (t_{0.975} for 1..4 degrees of freedom from tables), clipped with min/max."""
    t975 = {1: 12.706204736174698, 2: 4.302652729749464, 3: 3.182446305284263, 4: 2.7764451051977934}
    n = len(values)
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975[n - 1] * s / math.sqrt(n)
    return max(low, min(high, mean - half)), max(low, min(high, mean + half))


def test_accuracy_intervals_stay_within_0_and_1_with_two_seeds():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(2, 6))
        v = rng.choice([rng.uniform(0, 0.1, n), rng.uniform(0.9, 1, n), rng.uniform(0, 1, n)])
        lo, hi = ci95(v, "accuracy")
        ref = slow_t_interval(list(v), 0.0, 1.0)
        assert 0.0 <= lo <= v.mean() <= hi <= 1.0
        assert (lo, hi) == pytest.approx(ref)
    # unbounded metrics are not clipped
    v = np.array([0.05, 0.6])
    assert ci95(v, "normalized_score") == pytest.approx(slow_t_interval([0.05, 0.6]))
    assert ci95(v, "normalized_score")[0] < 0 and ci95(v)[0] < 0
    # skill (1 - MSE / the mean predictor's) is at most 1: an interval of two seeds reached 1.4 ("[-0.4, 1.4]")
    v = np.array([0.45, 0.7])
    assert ci95(v, "skill") == pytest.approx(slow_t_interval([0.45, 0.7], high=1.0))
    assert ci95(v, "skill")[1] == 1.0 and ci95(v, "skill")[0] < 0
    # through the per-config statistics of the report (n = 2 seeds, accuracies near chance)
    stats = config_stats(runs_table(rad_records()))
    assert (stats["ci_low"] >= 0).all() and (stats["ci_high"] <= 1).all()
    assert (stats["ci_low"] == 0).any()  # this data has intervals the unclipped t would take below 0


# --------------------------------------------------------------------------------------------- figures
@pytest.fixture(scope="module")
def metric_figure():
    """The reproduce report's metric-vs-hidden-proportion figure of the rad-100k configs (kept open)."""
    mp = pytest.MonkeyPatch()
    frame = runs_table(rad_records())
    fig = captured(mp, reproreport.plot_metric_vs_hp, frame, config_stats(frame), "unused.png")
    mp.undo()
    return fig


def test_metric_plot_draws_the_chance_level(metric_figure):
    ax = metric_figure.axes[0]
    chance = [line for line in ax.get_lines() if "chance" in str(line.get_label())]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == [0.1, 0.1] and chance[0].get_linestyle() == "--"
    assert "chance (0.1)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_metric_plot_labels_do_not_overlap(metric_figure):
    ax = metric_figure.axes[0]
    renderer = metric_figure.canvas.get_renderer()
    metric_figure.tight_layout()  # as saved
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert set(boxes) == set(CONFIGS)
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)


def contrast(fg, bg):
    """WCAG contrast ratio of two sRGB colours, written out."""
    def lum(c):
        r, g, b = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c[:3]]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted([lum(fg), lum(bg)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_heatmap_numbers_contrast_with_their_cells(monkeypatch):
    from matplotlib.colors import to_rgb

    recs = rad_records(["dense", "uniform:0.5", "uniform:0.55", "uniform:0.45", "balanced:0.5", "uniform:0.05"])
    frame = runs_table(recs)
    fig = captured(monkeypatch, reproreport.plot_density_heatmap, frame, config_stats(frame), "unused.png")
    ax = fig.axes[0]
    image = ax.get_images()[0]
    grid = image.get_array()
    seen = set()
    for t in ax.texts:
        j, i = (round(c) for c in t.get_position())
        cell = image.cmap(image.norm(grid[i, j]))
        colour = to_rgb(t.get_color())
        best = max([(0, 0, 0), (1, 1, 1)], key=lambda c: contrast(c, cell))
        assert colour == best, (t.get_text(), cell, colour)
        seen.add((t.get_text(), colour))
    assert ("1.00", (0, 0, 0)) in seen  # yellow cells: dark numbers
    assert ("0.55", (0, 0, 0)) in seen  # light green: dark too
    assert ("0.05", (1, 1, 1)) in seen  # dark purple: white


# --------------------------------------------------------------------------------------------- the report
def section(md, heading):
    """The lines of a markdown section (up to the next heading)."""
    lines = md.split(f"## {heading}", 1)[1].splitlines()[1:]
    return [line for line in lines[: next((k for k, line in enumerate(lines) if line.startswith("#")), len(lines))]]


def with_failed_run(records):
    """The records and one run that failed before loading data (no data source, no final metric)."""
    failed = {**records[0], "trial_key": "rad-dense-9", "seed": 9, "config": {**records[0]["config"], "seed": 9},
              "status": "failed", "error": "RuntimeError: out of memory", "final": None}
    del failed["data_source"]
    return [*records, failed]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(records, report.md, report.html) of a reproduction report written without options."""
    recs = with_failed_run(rad_records())
    html_path, md_path = reproreport.write_report(reproduction(recs), tmp_path_factory.mktemp("rep"))[:2]
    return recs, md_path.read_text(), html_path.read_text()


def test_report_states_the_data_source(written):
    recs, md, page = written
    assert f"rad: {SOURCE} ({len(recs) - 1} runs)" in md and "rad: not recorded (1 run)" in md
    assert SOURCE in page


def test_report_has_one_row_per_run(written):
    recs, md, page = written
    lines = section(md, "Runs")
    rows = [line for line in lines if line.startswith("| rad |")]
    assert len(rows) == len(recs)
    head = next(line for line in lines if line.startswith("| task |"))
    for col in ("config", "seed", "budget", "status", "value", "hidden proportion", "dh", "weights", "wall time (s)"):
        assert f"| {col} |" in head, col
    assert sum("| failed |" in r and "out of memory" in r for r in rows) == 1
    details = page.split("<details>", 1)[1].split("</details>", 1)[0]
    assert details.count("<tr><td>rad</td>") == len(recs)


def test_report_command_re_runs_with_the_set_overrides(tmp_path):
    from balancedrnn.cli import _parse_sets

    overrides = {"mnist_dir": "/data/my mnist", "epochs": 2, "lr": 1e-05, "n_train": 64, "activation": "tanh",
                 "dataset": "1e-3", "init_std": 0.5}
    out = tmp_path / "my report"
    paths = reproreport.write_report(reproduction(rad_records(seeds=1)), out, overrides=overrides,
                                     storage="postgresql://user:secret@db.example/runs")
    md, page = paths[1].read_text(), paths[0].read_text()
    command = re.search(r"Command: `([^`]*)`", md).group(1)
    args = shlex.split(command)
    assert args[:5] == ["balancedrnn", "reproduce", "rad-100k", "--scale", "smoke"]
    assert args[args.index("--out-dir") + 1] == str(out)
    sets = [args[k + 1] for k, a in enumerate(args) if a == "--set"]
    assert _parse_sets(sets) == overrides  # every override parses back to its value
    assert args[args.index("--storage") + 1] == "postgresql://user:***@db.example/runs" and "secret" not in md + page
    assert html.escape(command) in page
    assert "clipped to [0, 1] for accuracies" in md  # and the report says how its intervals are made


def test_predictor_evaluate_writes_an_html_report(tmp_path):
    from test_meta import run, synthetic_records, write_records

    write_records(tmp_path / "recs", synthetic_records(n_configs=10, seeds=2))
    res = run(["predictor", "evaluate", "--records", "recs", "--out-dir", "rep", "--n-estimators", "20", "--repeats", "1",
               "--n-splits", "3", "--no-parent", "--quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "report.html" in res.stdout
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 3  # self-contained
    assert "<td>parameters only</td>" in page and "Leave-one-data-set-out" in page and "Permutation importances" in page
    assert "torch" in page.split("<footer>")[1]
    assert (tmp_path / "rep" / "report.md").exists()


# --------------------------------------------------------------------------------------- rollout tasks
def hammer_records():
    """Two configs x two seeds scored by rollouts, each with its checkpoint-selection checks."""
    out = []
    for model, successes in (("dense", (0.99, 0.95)), ("uniform:0.1", (0.90, 0.70))):
        summary = {"kind": "block", **BlockSpec.from_budget(46, 26, 100_000.0, config_density(model, 46, 26, 100_000.0)).summary()}
        for s, rate in enumerate(successes):
            checks = [{"epoch": e, "episodes": 50, "success_rate": r, "normalized_score": 120 * r}
                      for e, r in ((2, 0.0), (4, rate), (6, 0.5 * rate))]
            out.append({"record_version": RECORD_VERSION, "trial_key": f"hammer-{model}-{s}", "seed": s, "status": "ok",
                        "config": {"task": "hammer", "model": model, "seed": s, "budget": 100_000.0, "lr": 1e-3, "epochs": 6},
                        "task": {"name": "hammer", "dx": 46, "dy": 26, "loss": "all", "metric": "normalized_score"},
                        "data_source": "Minari data set x", "model": summary, "wall_time": 60.0,
                        "history": {"train_loss": [1.0] * 6, "val": [{"loss": 1.0}] * 6, "best_epoch": 4,
                                    "stopped_epoch": 6, "selection": checks},
                        "final": {"metric": "normalized_score", "value": 130 * rate, "test": {"loss": 0.2},
                                  "score": {"episodes": 100, "normalized_score": 130 * rate, "success_rate": rate}}})
    return out


def test_rollout_runs_report_their_success_rate_and_selection_checks():
    recs = hammer_records()
    table = reproreport.stats_table(config_stats(runs_table(recs)))
    assert table.set_index("config")["success (%)"].to_dict() == {"dense": "97", "uniform:0.1": "80"}  # means by hand
    assert "success (%)" not in reproreport.stats_table(config_stats(runs_table(rad_records())))  # no rollouts, no column
    curves = reproreport.selection_curves(recs)
    dense = curves[curves["model"] == "dense"].groupby("epoch")["value"].mean()
    assert dense.to_dict() == pytest.approx({2: 0.0, 4: 97.0, 6: 48.5})  # % of episodes, mean over the two seeds
    assert reproreport.selection_curves(rad_records()).empty


def test_rollout_runs_validate_on_the_kept_check():
    """A run whose checkpoint the selection rollouts picked has no per-epoch metric; its validation value is those
    rollouts' score at the kept epoch (epoch 4 here), and a run without selection or metric has none."""
    from balancedrnn.analysis.report import records_frame

    frame = records_frame(hammer_records())
    assert frame["val"].tolist() == pytest.approx([120 * 0.99, 120 * 0.95, 120 * 0.90, 120 * 0.70])
    bare = hammer_records()[0]
    bare["history"] = {**bare["history"], "selection": None}
    assert math.isnan(records_frame([bare])["val"].iloc[0])
    rad = rad_records()[0]
    rad["final"]["val"] = {"loss": 0.3, "accuracy": 0.42}
    assert records_frame([rad])["val"].iloc[0] == 0.42  # a task with the metric in its validation: that value


def test_compare_summary_shows_success_only_for_rollout_runs():
    from balancedrnn.analysis.report import records_frame, summarise, summary_markdown

    hammer = summarise(records_frame(hammer_records()))
    assert hammer["success_mean"].to_dict() == pytest.approx({"dense": 0.97, "uniform:0.1": 0.80})
    md = summary_markdown(hammer, "normalized_score")
    assert "| success |" in md and "| 97% |" in md and "| 80% |" in md
    rad = summary_markdown(summarise(records_frame(rad_records())))
    assert "success" not in rad and rad.splitlines()[1].count("|") == rad.splitlines()[0].count("|")


def test_mean_std_shows_a_spread_only_when_one_was_measured():
    from balancedrnn.analysis.report import mean_std

    assert mean_std(0.5, 0.0, 1) == "0.500"
    assert mean_std(0.5, 0.01, 3) == "0.500 ± 0.010"
    assert mean_std(0.5, 0.0, 2) == "0.500 ± 0.000"  # two equal runs: a measured zero


def test_one_run_has_no_measured_spread_in_the_summary_the_plot_or_the_sweep_table(tmp_path, capsys):
    """The std of a single run is not 0 but unmeasured: NaN in the summary (an empty cell in compare's
    summary.csv), no ± in a sweep's results table, a point without an error bar in the plot."""
    from balancedrnn.analysis.report import plot_metric_vs_hp, records_frame, summarise
    from balancedrnn.cli import _results_table

    summary = summarise(records_frame(rad_records(seeds=1)))
    assert summary["test_std"].isna().all() and (summary["runs"] == 1).all()
    assert summarise(records_frame(rad_records(seeds=2)))["test_std"].notna().all()
    assert plot_metric_vs_hp(summary, tmp_path / "one.png").exists()
    capsys.readouterr()
    _results_table(rad_records(seeds=1), "one seed")
    table = capsys.readouterr().out
    assert "±" not in table and "nan" not in table
    _results_table(rad_records(seeds=2), "two seeds")
    assert "±" in capsys.readouterr().out


def test_the_configurations_table_says_when_it_shows_the_best_only(tmp_path):
    """More configurations on a task than the table shows: its title says it holds the best of each task and of
    how many; with few, it says nothing of the kind."""
    many = [f"uniform:{p / 100:g}" for p in range(10, 40)]  # 30 configs on rad
    md = reproreport.write_report(reproduction(rad_records(configs=many)), tmp_path / "many")[1].read_text()
    assert len([line for line in section(md, "Configurations") if line.startswith("| rad |")]) == reproreport.TOP_CONFIGS
    assert f"the {reproreport.TOP_CONFIGS} best of each task, of 30 on rad" in md
    md = reproreport.write_report(reproduction(rad_records()), tmp_path / "few")[1].read_text()
    assert "best of each task" not in md


def test_the_note_of_a_run_that_did_not_finish_ok_is_its_error_also_for_a_baseline_over_budget():
    """A baseline that cannot get down to the budget carries a budget note in its model summary; when such a run
    diverged, the per-run table's note (and compare's 'every trial failed: ...' line) showed that budget note,
    not why the run failed. The note of a run that did not finish ok leads with its error."""
    from balancedrnn.analysis.report import records_frame, runs_detail
    from balancedrnn.core.configs import config_summary

    lstm = {"kind": "lstm", **config_summary("lstm", 2500, 10, 30_000)}
    assert lstm["budget_note"]  # the case: a baseline over the budget
    rec = {"record_version": RECORD_VERSION, "trial_key": "lstm-0", "seed": 0, "status": "diverged",
           "error": "training loss became nan at epoch 1", "config": {"task": "rad", "model": "lstm", "seed": 0,
                                                                      "budget": 30_000.0},
           "task": {"name": "rad", "dx": 2500, "dy": 10, "loss": "last", "metric": "accuracy"}, "model": lstm}
    assert runs_detail([rec])["note"].iloc[0].startswith("training loss became nan at epoch 1")
    assert records_frame([rec])["note"].iloc[0].startswith("training loss became nan at epoch 1")
    ok = {**rec, "status": "ok", "error": None, "final": {"metric": "accuracy", "value": 0.2, "test": {"accuracy": 0.2}}}
    assert records_frame([ok])["note"].iloc[0] == lstm["budget_note"]  # an ok run: its budget note, as before


def test_a_multi_line_or_piped_note_keeps_the_summary_markdown_table_whole():
    """A config's note can be a failed seed's error, and errors span lines and hold '|' (torch's shape messages,
    'a | b' in a path): written raw into summary.md's row they cut the row in two or added cells. The cell is one
    line with '|' escaped, as table_md writes cells."""
    from balancedrnn.analysis.report import records_frame, summarise, summary_markdown

    recs = rad_records(configs=["dense", "uniform:0.2"], seeds=2)
    recs[0].update(status="failed", error="RuntimeError: shapes cannot be multiplied\n(16x3 and 4x5) | see above")
    del recs[0]["final"]
    md = summary_markdown(summarise(records_frame(recs)))
    rows = md.strip().splitlines()
    assert len(rows) == 4, md  # header, rule, one row per config
    assert all(row.count("|") - row.count("\\|") == rows[0].count("|") for row in rows), md
    assert "(16x3 and 4x5) \\| see above" in rows[2]


def test_a_configs_note_names_a_later_seeds_error_not_only_the_first_runs_note():
    """summary.md's note column took the first run's note: with seed 0 fine and seed 1 failed, the note was empty
    and the failure's reason was shown nowhere in the summary. It now lists each distinct note once."""
    from balancedrnn.analysis.report import records_frame, summarise

    recs = rad_records(configs=["dense"], seeds=4)
    for i, err in ((1, "RuntimeError: first"), (2, "RuntimeError: second"), (3, "RuntimeError: first")):
        recs[i].update(status="failed", error=err)
        del recs[i]["final"]
    row = summarise(records_frame(recs)).iloc[0]
    assert row["runs"] == 1 and row["failed"] == 3
    assert row["note"] == "RuntimeError: first; RuntimeError: second"
    recs[1]["error"] = "RuntimeError: third"
    assert summarise(records_frame(recs)).iloc[0]["note"].endswith("; (+1 more)")
    assert summarise(records_frame(rad_records(configs=["dense"], seeds=2))).iloc[0]["note"] == ""


def test_plot_runs_removes_its_earlier_plots_that_it_does_not_write(tmp_path):
    """`runs --plots DIR` into a directory an earlier call wrote: when this call has no run that finished ok, it
    said 'nothing written' yet left the earlier plots there, to be read as of these runs. They are now removed;
    other files in the directory are left alone."""
    from balancedrnn.analysis.report import plot_runs, records_frame

    recs = rad_records(configs=["dense", "balanced"], seeds=1)
    written = plot_runs(records_frame(recs), tmp_path)
    assert sorted(p.name for p in written) == ["metric_vs_density.png", "metric_vs_hidden_proportion.png"]
    (tmp_path / "mine.png").write_bytes(b"not a plot of plot_runs")
    for r in recs:
        r.update(status="failed", error="RuntimeError: injected")
        del r["final"]
    assert plot_runs(records_frame(recs), tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]


def test_summary_keeps_a_config_at_two_budgets_apart():
    """A grid sweep over two budgets: dense at 30,000 and dense at 50,000 are two configurations (two rows, each
    with its own runs, mean, sample std and weights), not one row averaging both."""
    from balancedrnn.analysis.report import records_frame, summarise

    recs = rad_records(["dense", "uniform:0.2"], seeds=3, budget=30_000.0) + \
        rad_records(["dense", "uniform:0.2"], seeds=3, budget=50_000.0, seed=1)
    summary = summarise(records_frame(recs))
    assert len(summary) == 4
    for model in ("dense", "uniform:0.2"):
        for budget in (30_000.0, 50_000.0):
            mine = [r for r in recs if r["config"]["model"] == model and r["config"]["budget"] == budget]
            values = [r["final"]["value"] for r in mine]
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            row = summary.loc[f"{model} @ {budget:,.0f}"]
            assert row["runs"] == 3
            assert row["test_mean"] == pytest.approx(mean)
            assert row["test_std"] == pytest.approx(std)
            assert row["weights"] == mine[0]["model"]["weights"]
    one = summarise(records_frame(rad_records(["dense"], seeds=2)))  # one budget: the label is the model
    assert list(one.index) == ["dense"] and one.index.name == "model"


def test_core_minutes_count_each_trials_threads():
    """Trials of a shared store run with other thread counts (a `sweep --threads 4` worker on another machine):
    the report's core-minutes are each trial's wall time times its threads, summed."""
    recs = rad_records(["dense", "uniform:0.2"], seeds=2)
    for i, r in enumerate(recs):
        r["threads"] = 1 + i % 3
        r["wall_time"] = 30.0 * (i + 1)
    reference = 0.0
    for r in recs:
        reference += r["wall_time"] * r["threads"] / 60
    assert reproreport.report_tables(reproduction(recs)).core_minutes == pytest.approx(reference)


def test_learning_curve_legend_counts_a_model_at_two_budgets_as_two_configs(monkeypatch):
    """The legend's "(n configs)" counts the configurations the statistics count: dense at two budgets is two."""
    recs = rad_records(["dense", "uniform:0.2"], seeds=2, budget=30_000.0) + \
        rad_records(["dense"], seeds=2, budget=50_000.0, seed=1)
    for r in recs:
        r["history"] = {"val": [{"accuracy": 0.1}, {"accuracy": 0.2}]}
    fig = captured(monkeypatch, reproreport.plot_learning_curves, reproreport.learning_curves(recs), "x.png")
    labels = sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    expected = {}
    for r in recs:
        family = "dense" if r["config"]["model"] == "dense" else "uniform"
        expected.setdefault(family, set()).add((r["config"]["model"], r["config"]["budget"]))
    assert labels == sorted(f"{f} ({len(c)} configs)" for f, c in expected.items())


def test_the_std_of_the_reports_says_its_ddof_and_is_the_sample_std(tmp_path, capsys):
    """Every ± or std a report prints says which standard deviation it is (the sample one, ddof 1), and is it."""
    import statistics

    from balancedrnn.cli import _results_table

    recs = rad_records(["dense", "uniform:0.2"], seeds=3)
    md = reproreport.write_report(reproduction(recs), tmp_path)[1].read_text()
    assert "sample std (ddof 1)" in md
    for line in section(md, "Configurations"):
        if line.startswith("| rad |"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            values = [r["final"]["value"] for r in recs if r["config"]["model"] == cells[1]]
            assert float(cells[5]) == pytest.approx(statistics.stdev(values), rel=1e-3)
    capsys.readouterr()
    _results_table(recs, "three seeds")
    assert "ddof 1" in capsys.readouterr().out


def test_learning_curve_bands_are_the_sample_std_and_absent_for_one_run(monkeypatch):
    """The band around a family's mean curve is ± the sample std (ddof 1, by hand here) of its runs at each epoch; a
    family with one run has no band (it was drawn as a band of width 0: a spread measured as none)."""
    import statistics

    curves = reproreport.pd.DataFrame(
        [{"task": "rad", "family": "dense", "model": "dense", "budget": 1e5, "seed": s, "epoch": e, "value": v,
          "metric": "accuracy"}
         for s, vals in enumerate([[0.1, 0.2, 0.3], [0.2, 0.4, 0.5]]) for e, v in enumerate(vals, start=1)]
        + [{"task": "rad", "family": "balanced", "model": "balanced:0.5", "budget": 1e5, "seed": 0, "epoch": e, "value": v,
            "metric": "accuracy"} for e, v in enumerate([0.3, 0.35, 0.4], start=1)])
    fig = captured(monkeypatch, reproreport.plot_learning_curves, curves, "unused.png")
    bands = fig.axes[0].collections
    assert len(bands) == 2
    dense, balanced = bands
    top = {}
    for x, y in dense.get_paths()[0].vertices:
        top.setdefault(round(float(x)), set()).add(round(float(y), 9))
    for e, (a, b) in enumerate(zip([0.1, 0.2, 0.3], [0.2, 0.4, 0.5]), start=1):
        m, sd = statistics.mean([a, b]), statistics.stdev([a, b])
        assert {round(m - sd, 9), round(m + sd, 9)} <= top[e]
    assert all(len(p.vertices) == 0 for p in balanced.get_paths())


def test_a_report_removes_the_figures_of_an_earlier_report_that_it_does_not_write(tmp_path):
    """A reproduction re-run into its directory (other --set, or --report-only before the predictor or the recommender
    stage could run) left the earlier report's recommender, selection and predictor figures beside the new ones:
    figures of other runs, in the directory the report names."""
    figs = tmp_path / "figures"
    (figs / "predictor").mkdir(parents=True)
    earlier = [figs / "recommender.png", figs / "selection_curves.png", figs / "predictor" / "importances.png",
               figs / "predictor" / "predicted_vs_actual.png", figs / "predictor" / "report.md"]
    for p in earlier:
        p.write_bytes(b"an earlier report's")
    (figs / "mine.txt").write_text("not the report's")
    paths = reproreport.write_report(reproduction(rad_records(seeds=2)), tmp_path)
    assert not any(p.exists() for p in earlier) and not (figs / "predictor").exists()
    assert (figs / "mine.txt").exists()
    written = {p.name for p in paths[2:]}
    assert written == {"metric_vs_hidden_proportion.png", "learning_curves.png", "density_heatmap.png"}
    assert all(p.exists() for p in paths)


def test_figures_of_many_tasks_wrap_into_rows(monkeypatch):
    """The zoo plan's 31 tasks made one row of 31 panels: a figure 186 inches wide that the page shrinks to slivers.
    Panels now wrap four to a row, every task keeping its panel."""
    tasks = [f"task{i}" for i in range(9)]
    recs = [dict(r, config=dict(r["config"], task=t)) for t in tasks for r in rad_records(CONFIGS[:3], seeds=2)]
    frame = runs_table(recs)
    stats = config_stats(frame)
    for plot, width in ((reproreport.plot_metric_vs_hp, 6.0), (reproreport.plot_density_heatmap, 5.2)):
        fig = captured(monkeypatch, plot, frame, stats, None)
        titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert len(titled) == len(tasks) and all(any(t in title for title in titled) for t in tasks), titled
        w, h = fig.get_size_inches()
        assert w == pytest.approx(4 * width) and h > 2 * 4.0  # four to a row, three rows


def test_heatmap_labels_do_not_run_over_the_next_panel(monkeypatch):
    """Random-density configs have long names: side by side, one panel's labels covered the previous panel's yh and
    yy cells (the predictor plan's heat map)."""
    explicit = ["hx=0.0580910,hh=0.628723,hy=0.354564,yx=0.606877,yh=0.203301,yy=0.897183",
                "hx=0.0259047,hh=0.403035,hy=0.532879,yx=0.373139,yh=0.769353,yy=0.609603"]
    recs = [dict(r, config=dict(r["config"], task=t)) for t in ("a", "b", "c") for r in rad_records(explicit, seeds=1)]
    frame = runs_table(recs)
    fig = captured(monkeypatch, reproreport.plot_density_heatmap, frame, config_stats(frame), None)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert len(heat) == 3
    for left, right in zip(heat, heat[1:]):
        cells = left.get_window_extent(renderer)
        for label in right.get_yticklabels():
            assert label.get_window_extent(renderer).x0 >= cells.x1, label.get_text()


def test_the_configurations_table_counts_the_runs_that_did_not_finish_ok(tmp_path):
    """A config's diverged seed, or a config whose every seed failed, left no trace in the configurations table (a
    mean over the seeds that survived, or no row at all); only the banner's total and the per-run table said so."""
    recs = rad_records(["dense", "balanced:0.5", "uniform:0.2"], seeds=3)
    for r in recs:
        if (r["config"]["model"], r["config"]["seed"]) == ("dense", 2) or r["config"]["model"] == "uniform:0.2":
            r.update(status="diverged" if r["config"]["model"] == "dense" else "failed", final=None, error="boom")
    md = reproreport.write_report(reproduction(recs), tmp_path)[1].read_text()
    lines = section(md, "Configurations")
    head = next(line for line in lines if line.startswith("| task |"))
    cells = {line.split(" | ")[1]: dict(zip(head.strip("| ").split(" | "), line.strip("| ").split(" | ")))
             for line in lines if line.startswith("| rad |")}
    assert cells["dense"]["runs"] == "2" and cells["dense"]["not ok"] == "1"
    ok_dense = [r["final"]["value"] for r in recs if r["config"]["model"] == "dense" and r["status"] == "ok"]
    assert cells["dense"]["mean"] == reproreport.fmt(sum(ok_dense) / 2)  # the mean of the two that finished
    assert cells["balanced:0.5"]["runs"] == "3" and cells["balanced:0.5"]["not ok"] == "0"
    assert cells["uniform:0.2"]["runs"] == "0" and cells["uniform:0.2"]["not ok"] == "3"
    assert cells["uniform:0.2"]["mean"] == "n/a" and cells["uniform:0.2"]["family"] == "uniform"


def test_report_names_the_code_its_runs_were_made_with(tmp_path):
    """The footer gives the versions of the code writing the report; a report written later (--report-only, or over a
    store other machines ran) did not say which code made its runs, which the records hold."""
    recs = rad_records(["dense", "balanced:0.5"], seeds=2)
    for k, r in enumerate(recs):
        r["versions"] = {"balancedrnn": "0.1.0", "torch": "2.3.0"}
        r["git_revision"] = "a" * 40 if k < 3 else "b" * 40
    md = reproreport.write_report(reproduction(recs), tmp_path)[1].read_text()
    code = md.split("Code of the runs", 1)[1].split("\n## ", 1)[0]
    assert "- balancedrnn 0.1.0 (git aaaaaaaaaaaa), torch 2.3.0 (3 runs)" in code
    assert "- balancedrnn 0.1.0 (git bbbbbbbbbbbb), torch 2.3.0 (1 run)" in code


def test_learning_curves_keep_configs_of_other_settings_apart_and_a_trial_run_twice_once(monkeypatch):
    """Like the statistics: dense at lr 1e-3 and at lr 1e-2 are two configs in the legend (it said one), and the same
    trial in two sweeps of a plan enters the family's mean curve once (it entered twice)."""
    recs = rad_records(["dense", "uniform:0.2"], seeds=2)
    fast = [dict(r, trial_key=r["trial_key"] + "-fast", config=dict(r["config"], lr=1e-2))
            for r in rad_records(["dense"], seeds=2)]
    for k, r in enumerate(recs + fast):
        r["history"] = {"val": [{"accuracy": 0.1 * (1 + k)}, {"accuracy": 0.2}]}
    twice = dict(recs[0])  # dense, lr 1e-3, seed 0 again, from another sweep of the same settings
    curves = reproreport.learning_curves(recs + fast + [twice])
    fig = captured(monkeypatch, reproreport.plot_learning_curves, curves, "x.png")
    labels = sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert labels == ["dense (2 configs)", "uniform (1 configs)"]
    dense = [r for r in recs + fast if r["config"]["model"] == "dense"]  # by hand: each run once
    first = curves[(curves["family"] == "dense") & (curves["epoch"] == 1)]["value"]
    assert len(first) == 4 and first.mean() == pytest.approx(sum(r["history"]["val"][0]["accuracy"] for r in dense) / 4)
