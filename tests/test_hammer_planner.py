"""The sampling planner and its guide (warm start from demonstrations)."""

import json

import numpy as np
import pytest

from balancedrnn.io import DataError
from balancedrnn.tasks.hammer.planner import GUIDED, Guide, PlannerConfig


def _demos(seed=0, n=3, T=12):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(T + 1, 46)) for _ in range(n)], [rng.uniform(-1, 1, size=(T, 26)) for _ in range(n)]


def test_guide_continues_the_nearest_demonstrated_state_brute_force():
    obs, acts = _demos()
    guide = Guide(obs, acts)
    flat = np.concatenate([o[:-1] for o in obs])
    mean, std = flat.mean(0), np.maximum(flat.std(0), 1e-3)
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = flat[rng.integers(len(flat))] + rng.normal(0, 0.01, 46)
        # the reference: loop over every demonstrated (episode, step), normalised distance
        best = min(((((o[t] - mean) / std - (q - mean) / std) ** 2).sum(), d, t)
                   for d, o in enumerate(obs) for t in range(len(acts[d])))
        _, d, t = best
        got = guide.continuation(q, 5)
        want = [acts[d][min(t + k, len(acts[d]) - 1)] for k in range(5)]  # the last action held past the end
        np.testing.assert_allclose(got, want)


def test_blind_guide_ignores_the_nail_only_while_the_hammer_is_low():
    from balancedrnn.tasks.hammer.env import HAMMER_Z, NAIL_OBS

    obs, acts = _demos(n=4)
    guide, blind = Guide(obs, acts), Guide(obs, acts, blind_below=0.5)
    std = np.maximum(np.concatenate([o[:-1] for o in obs]).std(0), 1e-3)
    sighted = [i for i in range(46) if i not in range(46)[NAIL_OBS]]
    rng = np.random.default_rng(2)
    blinded = 0
    for _ in range(40):
        q = rng.normal(0, 1, 46)  # anywhere: the nail's entries often decide which state is nearest
        low = q[HAMMER_Z] < 0.5
        dims = sighted if low else range(46)  # the reference: the distance over the entries the guide may see
        _, d, t = min((sum(((o[t, i] - q[i]) / std[i]) ** 2 for i in dims), d, t)
                      for d, o in enumerate(obs) for t in range(len(acts[d])))
        np.testing.assert_allclose(blind.continuation(q, 3), [acts[d][min(t + k, len(acts[d]) - 1)] for k in range(3)])
        if not low:
            np.testing.assert_allclose(blind.continuation(q, 3), guide.continuation(q, 3))
        blinded += low and not np.allclose(blind.continuation(q, 3), guide.continuation(q, 3))
    assert blinded > 0  # the queries did tell the two guides apart
    with pytest.raises(ValueError, match="blind_below"):
        Guide(obs, acts, blind_below=0.0)


def test_guide_fingerprint_names_the_demonstrations():
    obs, acts = _demos()
    assert Guide(obs, acts).fingerprint() == Guide(obs, [a.copy() for a in acts]).fingerprint()
    assert Guide(obs, acts).fingerprint() != Guide(obs, acts[::-1]).fingerprint()
    assert Guide(obs, acts, blind_below=0.1).fingerprint() == Guide(obs, acts).fingerprint() + "-blind0.1"
    # the lookup reads the observations: demonstrations observed elsewhere are another guide (it hashed actions only)
    moved = [o + 0.01 for o in obs]
    assert Guide(moved, acts).fingerprint() != Guide(obs, acts).fingerprint()


def test_guided_planner_episode_in_the_simulator_is_seeded_and_needs_the_observation():
    pytest.importorskip("gymnasium_robotics")
    from balancedrnn.tasks.hammer.env import make_env
    from balancedrnn.tasks.hammer.expert import planner_episode
    from balancedrnn.tasks.hammer.planner import Planner

    # the guide: a short zero-action episode from another reset; a tiny search keeps the test fast
    env = make_env()
    o, _ = env.reset(seed=5)
    obs_seq, act_seq = [o], []
    for _ in range(10):
        act_seq.append(np.zeros(26))
        o, *_ = env.step(act_seq[-1])
        obs_seq.append(o)
    guide = Guide([np.array(obs_seq)], [np.array(act_seq)])
    cfg = PlannerConfig(samples=3, horizon=2, knot_every=1, sigma=0.3)
    a = planner_episode(7, cfg, noise=0.1, guide=guide)
    b = planner_episode(7, cfg, noise=0.1, guide=guide)
    np.testing.assert_array_equal(a["actions"], b["actions"])
    assert a["actions"].shape == (200, 26) and np.abs(a["actions"]).max() <= 1.0
    planner = Planner(env, cfg, guide=guide)
    with pytest.raises(ValueError, match="observation"):
        planner.act()
    env.close()


def test_a_shared_grasp_is_replayed_the_same_at_every_nail_height():
    pytest.importorskip("gymnasium_robotics")
    from balancedrnn.tasks.hammer.env import NAIL_OBS, NAIL_Z
    from balancedrnn.tasks.hammer.expert import collect_planner_demos, planner_episode

    prefix = np.random.default_rng(0).uniform(-1, 1, size=(6, 26)).astype(np.float32)
    cfg = PlannerConfig(samples=2, horizon=2, knot_every=1, sigma=0.3)
    a, b = (planner_episode(seed, cfg, prefix=prefix) for seed in (1, 3))
    assert a["observations"][0, NAIL_Z] != b["observations"][0, NAIL_Z]  # two nail heights
    for ep in (a, b):
        np.testing.assert_array_equal(ep["actions"][:6], prefix)
    sighted = np.ones(46, bool)
    sighted[NAIL_OBS] = False
    np.testing.assert_allclose(a["observations"][:7, sighted], b["observations"][:7, sighted], atol=1e-6)
    with pytest.raises(ValueError, match="shared_grasp"):
        collect_planner_demos(1, shared_grasp=200)


def test_weighted_plan_against_a_loop_and_its_limits():
    from balancedrnn.tasks.hammer.planner import _weighted_plan

    rng = np.random.default_rng(0)
    cands, scores = rng.uniform(-1, 1, size=(6, 4, 26)), rng.normal(size=6) * 10
    t = 0.7
    w = [np.exp((r - scores.max()) / (t * scores.std())) for r in scores]  # the reference: one candidate at a time
    want = sum(wi * c for wi, c in zip(w, cands)) / sum(w)
    np.testing.assert_allclose(_weighted_plan(cands, scores, t), want)
    np.testing.assert_allclose(_weighted_plan(cands, scores, 1e-6), cands[scores.argmax()])  # cold: the best one
    np.testing.assert_allclose(_weighted_plan(cands, scores, 1e6), cands.mean(0), atol=1e-4)  # hot: the plain mean
    np.testing.assert_allclose(_weighted_plan(cands, np.ones(6), t), cands.mean(0))  # all level


@pytest.mark.parametrize("bad", [{"samples": 0}, {"horizon": 0}, {"knot_every": 0}, {"sigma": -0.1},
                                 {"sigma": float("nan")}, {"temperature": float("inf")}, {"samples": 2.5}])
def test_a_planner_search_that_cannot_run_is_refused_in_one_line(bad):
    """Such a search failed only when planning, with numpy's words (`negative dimensions are not allowed`, a division
    by zero, an index out of bounds) or planned NaN actions."""
    with pytest.raises(ValueError, match=f"planner {next(iter(bad))} must be") as e:
        PlannerConfig(**bad)
    assert "\n" not in str(e.value)


def test_a_guided_planner_needs_room_for_both_plans():
    from balancedrnn.tasks.hammer.env import make_env
    from balancedrnn.tasks.hammer.planner import Planner

    env = make_env()
    with pytest.raises(ValueError, match="a guided planner needs samples >= 2"):
        Planner(env, PlannerConfig(samples=1), guide=Guide(*_demos()))
    Planner(env, PlannerConfig(samples=1)).act()  # unguided, the previous plan alone is a search
    env.close()


def test_guided_cache_name_keeps_old_caches_and_tells_temperatures_apart():
    from dataclasses import replace

    from balancedrnn.tasks.hammer.expert import _guided_name
    from balancedrnn.tasks.hammer.planner import GUIDED

    guide = Guide(*_demos())
    base = _guided_name(guide, GUIDED)
    assert base == f"guided-{guide.fingerprint()}-s8h20k0.3"  # the name episodes planned before temperatures had
    assert len({base, _guided_name(guide, replace(GUIDED, temperature=1.0)),
                _guided_name(guide, replace(GUIDED, temperature=0.3))}) == 3


class _SerialPool:
    """Stands in for the worker pool: the jobs run here, one after another."""

    def __init__(self, workers=1):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, job, args):
        return map(job, args)

    def map(self, job, args):
        return list(map(job, args))


def _fake_planner_job(args):
    """A planner episode without the simulator: action values name the seed; a prefix is replayed first."""
    seed, _config, _noise, _guide, prefix = args
    actions = np.full((200, 26), seed / 1000, np.float32)
    if prefix is not None:
        actions[: len(prefix)] = prefix
    return {"seed": seed, "observations": np.zeros((201, 46)), "actions": actions, "rewards": np.zeros(200),
            "success": False, "seconds": 0.0}


@pytest.fixture
def fake_planner(tmp_path, monkeypatch):
    from balancedrnn.tasks.hammer import expert

    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(expert, "_pool", _SerialPool)
    monkeypatch.setattr(expert, "_planner_job", _fake_planner_job)
    return expert


def test_shared_grasp_episodes_of_another_seeds_grasp_are_not_reused(fake_planner):
    """Episode 1 made with seed 0's grasp must not be read back for a run that shares seed 1's grasp."""
    collect = fake_planner.collect_planner_demos
    first = collect(2, seed=0, shared_grasp=5)
    np.testing.assert_array_equal(first[1].actions[:5], np.full((5, 26), 0.0))  # seed 0's grasp
    second = collect(1, seed=1, shared_grasp=5)
    np.testing.assert_array_equal(second[0].actions[:5], np.full((5, 26), 0.001, np.float32))  # seed 1's own
    np.testing.assert_array_equal(collect(2, seed=0, shared_grasp=5)[1].actions, first[1].actions)  # still cached


def test_planner_episodes_of_another_search_are_not_reused(fake_planner, monkeypatch):
    """Episodes cached for one planner search are not read back for another: unguided with a config of its own
    (they all shared the folder of the default search), or guided with another knot spacing."""
    from dataclasses import replace

    def job(args):  # the first action names the search that planned it
        seed, config, _noise, _guide, _prefix = args
        c = config or PlannerConfig()
        ep = _fake_planner_job(args)
        ep["actions"][0, :4] = [c.samples, c.horizon, c.sigma, c.knot_every]
        return ep

    monkeypatch.setattr(fake_planner, "_planner_job", job)
    collect = fake_planner.collect_planner_demos
    guide = Guide(*_demos())
    for kwargs in ({}, {"guide": guide}):
        default = PlannerConfig() if not kwargs else GUIDED
        for config in (None if not kwargs else default, replace(default, horizon=12), replace(default, knot_every=3),
                       replace(default, samples=5), replace(default, sigma=0.1)):
            c = config or PlannerConfig()
            ep = collect(1, config=config, **kwargs)[0]
            np.testing.assert_array_equal(ep.actions[0, :4], np.float32([c.samples, c.horizon, c.sigma, c.knot_every]))
    assert fake_planner._guided_name(guide, GUIDED) == f"guided-{guide.fingerprint()}-s8h20k0.3"  # old caches kept


def test_dagger_labels_are_reused_only_with_the_same_settings(tmp_path, monkeypatch):
    """A rerun with the same settings reuses each round's labels (no planner); other rollouts per round or another
    seed make their own (the labels a round adds: ``episodes_per_round`` states, one per fake rollout)."""
    import json

    from balancedrnn.tasks.hammer import expert, rollout
    from balancedrnn.tasks.hammer.dataset import Episode

    calls = []

    def fake_dagger_job(args):
        seed, _policy, _config = args
        calls.append(seed)
        return {"seed": seed, "obs": np.full((1, 46), seed, np.float32), "labels": np.zeros((1, 26), np.float32),
                "return": 0.0, "success": False}

    class Scored:
        def summary(self):
            return {"success_rate": 0.0, "return": 0.0, "normalized_score": 0.0}

    monkeypatch.setattr(expert, "_pool", _SerialPool)
    monkeypatch.setattr(expert, "_dagger_job", fake_dagger_job)
    monkeypatch.setattr(rollout, "rollout", lambda *a, **k: Scored())
    rng = np.random.default_rng(0)
    demos = [Episode(rng.normal(size=(5, 46)), rng.uniform(-1, 1, (4, 26)).astype(np.float32), np.zeros(4), i)
             for i in range(3)]

    def labels_in_round_1(**kw):
        expert.dagger(demos, rounds=1, eval_episodes=1, directory=tmp_path, log=lambda m: None, **kw)
        return json.loads((tmp_path / "rounds.json").read_text())[1]["labels"]

    assert labels_in_round_1(episodes_per_round=2) == 12 + 2 and len(calls) == 2
    assert labels_in_round_1(episodes_per_round=2) == 14 and len(calls) == 2  # resumed: no new labels
    assert labels_in_round_1(episodes_per_round=3) == 12 + 3 and len(calls) == 5
    labels_in_round_1(episodes_per_round=2, seed=1)
    assert len(calls) == 7  # another seed fits other policies: their labels are made again
    # the caller reads this run's rounds from `history`, not from rounds.json, which a concurrent run in the same
    # directory rewrites (`data hammer` read the file back and judged --min-success on the other run's last round)
    mine: list = []
    real_write = expert.atomic_write_json

    def another_run_writes_too(path, obj):
        real_write(path, obj)
        real_write(path, [{**obj[-1], "policy_success_rate": 1.0}])

    monkeypatch.setattr(expert, "atomic_write_json", another_run_writes_too)
    expert.dagger(demos, rounds=1, eval_episodes=1, directory=tmp_path, log=lambda m: None, history=mine,
                  episodes_per_round=2)
    assert [r["round"] for r in mine] == [0, 1] and all(r["policy_success_rate"] == 0.0 for r in mine)


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_a_corrupt_cached_planner_episode_is_one_line_naming_it(fake_planner, tmp_path, monkeypatch, capsys, damage):
    """``data hammer`` over a cached episode file cut short (a bad zip) or replaced by text (numpy's pickle refusal):
    one error line naming the file and saying to delete it, no traceback."""
    from clihelp import cli_env, run_main

    fake_planner.collect_planner_demos(1)
    path = tmp_path / "cache" / "hammer" / "planner" / "ep-000000.npz"
    if damage == "truncated":
        with open(path, "r+b") as f:
            f.truncate(500)
    else:
        path.write_text("not an episode\n")
    with pytest.raises(DataError, match="delete it"):
        fake_planner.collect_planner_demos(1)
    cli_env(tmp_path, monkeypatch)
    code, err = run_main(["data", "hammer", "--demos", "1", "--rounds", "0", "-q"], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and str(path) in err and "delete it" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["params.json", "rounds.json"])
def test_a_corrupt_distillation_log_is_one_line_naming_it(tmp_path, name):
    """A distillation's settings or round log that is not JSON (a foreign or damaged file) is one DataError naming
    it and saying to delete it, not a JSONDecodeError traceback; nothing is trained before the check."""
    import torch

    from balancedrnn.tasks.hammer import expert

    directory = tmp_path / "distil"
    directory.mkdir()
    if name == "rounds.json":  # the settings must match for the log to be read
        teacher = torch.nn.Linear(2, 2)
        params = {"teacher": expert._fingerprint(teacher), "episodes_per_round": 1, "eval_episodes": 1, "seed": 0,
                  "hidden": 8, "steps": 1}
        (directory / "params.json").write_text(json.dumps(params))
    else:
        teacher = torch.nn.Linear(2, 2)
    (directory / name).write_text("{not json")
    with pytest.raises(DataError, match=rf"cached file .*{name} is corrupt \(JSONDecodeError\); delete it") as e:
        expert.distil(teacher, rounds=0, episodes_per_round=1, eval_episodes=1, seed=0, hidden=8, steps=1,
                      directory=directory)
    assert "\n" not in str(e.value)


def test_the_data_sets_metadata_name_every_kind_of_demonstration(fake_planner, monkeypatch):
    """The Minari metadata of a made set (its algorithm) say what its expert learnt from: the --noisy-demos and the
    --shared-grasp were left out (the guided planner's counted the noisy demos as plain ones; the DAgger expert's
    named no demos at all)."""
    from balancedrnn import cli

    written = []
    monkeypatch.setattr(cli, "_write_expert_set", lambda dataset_id, eps, made_by, what, successes_only=False:
                        written.append(made_by))

    def dagger(demos, history, **kwargs):  # an expert at once, without the simulator
        history.append({"policy_success_rate": 1.0, "eval_episodes": 1})

    monkeypatch.setattr(fake_planner, "dagger", dagger)
    monkeypatch.setattr(fake_planner, "generate_episodes", lambda *args, **kwargs: [])
    cli._data_hammer(2, "planner", 0, 1, 1, 1, 1, 0, "test/hammer/x-v0", 0.8, True, noisy_demos=1, demo_noise=0.2)
    cli._data_hammer(2, "nn", 0, 1, 1, 1, 1, 0, "test/hammer/x-v0", 0.8, True, shared_grasp=5)
    assert "guided by 2 planner demonstrations and 1 more under action noise 0.2" in written[0]
    assert "DAgger nn expert over 2 planner demonstrations sharing a grasp of 5 steps" in written[1]


def test_episodes_per_round_without_dagger_rounds_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """``data hammer --rounds 0 --episodes-per-round N`` labels nothing: the option was accepted and ignored (the planner
    demos and the expert were made as without it); now a one-line error before any work."""
    from clihelp import cli_env, run_main

    from balancedrnn import cli

    cli_env(tmp_path, monkeypatch)
    ran = []
    monkeypatch.setattr(cli, "_data_hammer", lambda *args, **kwargs: ran.append(args))
    code, err = run_main(["data", "hammer", "--rounds", "0", "--episodes-per-round", "5"], capsys)
    assert (code, ran) == (2, []) and "--episodes-per-round" in err and len(err.strip().splitlines()) == 1
    assert run_main(["data", "hammer", "--rounds", "1", "--episodes-per-round", "5"], capsys)[0] == 0 and len(ran) == 1
