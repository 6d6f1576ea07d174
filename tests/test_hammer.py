"""Adroit Hammer in the real MuJoCo simulator: reward, data in Minari's format, rollouts, cloning."""

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium_robotics")
pytest.importorskip("minari")

from balancedrnn.io import DataError  # noqa: E402
from balancedrnn.tasks.hammer.dataset import (  # noqa: E402
    Episode,
    cloning_data,
    load_episodes,
    write_dataset,
)
from balancedrnn.tasks.hammer.env import SiteIds, make_env, normalized_score  # noqa: E402
from balancedrnn.tasks.hammer.expert import ExpertPolicy, generate_episodes  # noqa: E402
from balancedrnn.tasks.hammer.rollout import rollout  # noqa: E402


def episode_return(policy, seed):
    env = make_env()
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(200):
        _, r, _, _, _ = env.step(policy(rng))
        total += r
    env.close()
    return total


def test_reward_is_env_reward_minus_palm_term():
    env = make_env()
    env.reset(seed=3)
    ids = SiteIds.of(env)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, r, _, _, info = env.step(rng.uniform(-1, 1, 26))
        d = np.linalg.norm(u.data.site_xpos[ids.palm] - u.data.xpos[ids.hammer])
        assert r == pytest.approx(info["env_reward"] - 0.2 * d, abs=1e-9)


def test_zero_and_random_policies_score_like_d4rl():
    zero = np.mean([episode_return(lambda rng: np.zeros(26), s) for s in range(3)])
    rand = np.mean([episode_return(lambda rng: rng.uniform(-1, 1, 26), s) for s in range(3)])
    assert zero == pytest.approx(-235, abs=25)
    assert rand == pytest.approx(-271, abs=25)
    assert normalized_score(rand) == pytest.approx(0.0, abs=0.5)


@pytest.fixture(scope="module")
def sim_episodes():
    """Real simulator episodes of a fixed smooth policy (cheap stand-in for expert data in tests)."""
    torch.manual_seed(0)
    policy = ExpertPolicy(np.zeros(46), np.full(46, 0.05), hidden=32)  # small std: actions vary with the state
    return generate_episodes(policy, 12, seed=5, batch=12)


def test_minari_round_trip(sim_episodes, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset("test/hammer/tiny-v0", sim_episodes[:2], algorithm="test", description="two episodes")
    eps = load_episodes("test/hammer/tiny-v0")
    assert len(eps) == 2
    assert eps[0].observations.shape == (201, 46) and eps[0].actions.shape == (200, 26) and eps[0].rewards.shape == (200,)
    np.testing.assert_allclose(eps[1].actions, sim_episodes[1].actions, rtol=1e-6)
    with pytest.raises(DataError, match="cannot load Minari data set"):
        load_episodes("test/hammer/missing-v0")
    # the data set's size, measured once at the end rather than after every episode, is the size on disk
    import minari
    from minari.dataset._storages.arrow_storage import ArrowStorage

    storage = minari.load_dataset("test/hammer/tiny-v0").storage
    assert storage.metadata["dataset_size"] == storage.get_size() > 0
    assert ArrowStorage.get_size is not None and "lambda" not in ArrowStorage.get_size.__qualname__  # restored
    # an id without its version: Minari 0.5 would write it and then fail on every later listing
    with pytest.raises(DataError, match="not a Minari data set id"):
        write_dataset("test/hammer/tiny", sim_episodes[:2], algorithm="test", description="no version")
    assert not (tmp_path / "minari" / "test" / "hammer" / "tiny").exists()
    assert len(load_episodes("test/hammer/tiny-v0")) == 2  # the store still lists and loads


def test_cloning_data_shapes_and_bad_sizes(sim_episodes):
    data = cloning_data(sim_episodes, seed=0)
    assert data.splits["train"].x.shape[1:] == (200, 46) and data.splits["train"].target.shape[1:] == (200, 26)
    x = data.splits["train"].x.reshape(-1, 46)
    assert float(x.mean(0).abs().max()) < 1e-3  # normalised with training statistics
    bad = [Episode(ep.observations[:, :40], ep.actions, ep.rewards) for ep in sim_episodes[:3]]
    with pytest.raises(DataError):
        cloning_data([Episode(np.zeros((201, 46)), np.zeros((100, 26)), np.zeros(100))] + list(sim_episodes[:3]))
    assert len(bad) == 3


@pytest.mark.parametrize("config", ["balanced", "lstm"])
def test_incremental_rollout_equals_full_history(config):
    from balancedrnn.core.configs import build_model

    model = build_model(config, 46, 26, 20_000, seed=1).eval()
    res = rollout(model, episodes=3, seed=7, obs_mean=np.zeros(46), obs_std=np.ones(46) * 5, keep=True)
    inputs, actions = res.extra["inputs"], res.extra["actions"]
    with torch.no_grad():
        full = model(torch.as_tensor(inputs)).numpy()
    np.testing.assert_allclose(actions, full, atol=1e-5)


def test_kept_inputs_and_actions_cover_every_episode_whatever_the_batches_of_environments():
    """``keep`` kept nothing (``extra == {}``) when the episodes ran in more than one batch of environments."""
    torch.manual_seed(0)
    policy = ExpertPolicy(np.zeros(46), np.full(46, 0.05), hidden=16)
    whole = rollout(policy, episodes=3, seed=9, keep=True)
    batched = rollout(policy, episodes=3, seed=9, envs=2, keep=True)
    for name in ("inputs", "actions"):
        assert batched.extra[name].shape == whole.extra[name].shape == (3, 200, 46 if name == "inputs" else 26)
        np.testing.assert_allclose(batched.extra[name], whole.extra[name], atol=1e-5)
    with torch.no_grad():  # the actions kept are the policy's at the inputs kept, episode by episode
        np.testing.assert_allclose(batched.extra["actions"], policy(torch.as_tensor(batched.extra["inputs"])).numpy(),
                                   atol=1e-6)


@pytest.mark.parametrize("bad", [{"episodes": 0}, {"episodes": 2, "envs": 0}, {"episodes": 2, "envs": -1},
                                 {"episodes": 2.5}])
def test_a_rollout_of_no_episodes_or_environments_is_refused_in_one_line(bad):
    """0 episodes scored NaN with numpy's warnings, envs 0 meant all of them, envs -1 an IndexError."""
    policy = ExpertPolicy(np.zeros(46), np.ones(46), hidden=4)
    with pytest.raises(ValueError, match="rollout (episodes|envs) must be a positive integer") as e:
        rollout(policy, **bad)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("bad,name", [({"n": 0}, "n"), ({"n": 2, "batch": 0}, "batch"), ({"n": 2, "batch": -3}, "batch")])
def test_generating_no_episodes_or_in_empty_batches_is_refused_in_one_line(bad, name):
    """n 0 gave an empty list (an empty data set downstream), batch 0 an IndexError from the vector environment."""
    policy = ExpertPolicy(np.zeros(46), np.ones(46), hidden=4)
    with pytest.raises(ValueError, match=f"^{name} must be a positive integer") as e:
        generate_episodes(policy, **bad)
    assert "\n" not in str(e.value)


def test_diverged_policy_fails_its_episode_not_the_run():
    class Broken(torch.nn.Module):
        def step(self, x, state=None):
            a = torch.zeros(x.shape[0], 26)
            a[0] = float("nan")  # the first environment's policy has diverged
            return a, state

    res = rollout(Broken(), episodes=3, seed=0)
    assert res.diverged.tolist() == [True, False, False]
    assert not res.successes[0] and np.isfinite(res.returns).all()


def test_tiny_cloning_run_beats_mean_action(sim_episodes):
    from balancedrnn.tasks import get_task
    from balancedrnn.train import TrainConfig, run_trial

    data = cloning_data(sim_episodes, fractions=(0.7, 0.15, 0.15), seed=0, source="test episodes")
    cfg = TrainConfig(task="hammer", model="dense", budget=20_000, epochs=30, lr=3e-3, batch_size=4, threads=1, rollouts=2)
    record = run_trial(cfg, data=data, progress=False)
    assert record["status"] == "ok", record["error"]
    val_mse = record["final"]["val"]["loss"]
    assert val_mse < record["final"]["baseline"]["val_mse_mean_action"]
    assert record["final"]["score"]["episodes"] == 2
    assert get_task("hammer").metric == "normalized_score"


def test_selection_by_rollouts_keeps_the_picked_epochs_weights(sim_episodes):
    """``select_rollouts``: every ``select_every`` epochs (and at the last) the policy is scored on reset seeds the final score never
    uses, and the run keeps the weights of the check that succeeds most often (then by normalised score), here
    against a reference run trained exactly that many epochs without selection."""
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.hammer.rollout import score_seeds, select_seeds
    from balancedrnn.train import TrainConfig, build_for_task, fit

    task = get_task("hammer")
    data = cloning_data(sim_episodes, fractions=(0.7, 0.15, 0.15), seed=0, source="test episodes")
    cfg = TrainConfig(task="hammer", model="dense", budget=20_000, epochs=5, lr=3e-3, batch_size=4, threads=1,
                      rollouts=2, select_rollouts=2, select_every=2)
    assert select_seeds(cfg.seed) >= score_seeds(cfg.seed) + cfg.rollouts  # the two sets of reset seeds are disjoint
    model = build_for_task(cfg, task)
    history = fit(model, data, task, cfg, progress=False)
    assert [c["epoch"] for c in history.selection] == [2, 4, 5]  # and the last epoch, which 2 does not divide
    ranks = [(c["success_rate"], c["normalized_score"]) for c in history.selection]
    assert history.best_epoch == history.selection[ranks.index(max(ranks))]["epoch"]
    reference = build_for_task(cfg, task)
    fit(reference, data, task, TrainConfig(**{**cfg.__dict__, "epochs": history.best_epoch, "select_rollouts": 0}),
        progress=False)
    for name, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    again = task.select(model, data, cfg, 2)
    assert again["normalized_score"] == pytest.approx(history.selection[ranks.index(max(ranks))]["normalized_score"])
    with pytest.raises(ValueError, match="select_rollouts needs a task scored by rollouts"):
        TrainConfig(task="rad", select_rollouts=5)


def test_successes_only_writes_the_episodes_whose_nail_stayed_in(sim_episodes, tmp_path, monkeypatch):
    """``data hammer --successes-only``: DAPG's criterion (the nail in for more than 25 steps) read off the
    recorded rewards, against a count by hand; nothing written when no episode succeeded."""
    import dataclasses

    import typer

    from balancedrnn.cli import _write_expert_set
    from balancedrnn.tasks.hammer.env import recorded_success

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    eps = []
    for i, ep in enumerate(sim_episodes[:5]):
        rewards = ep.rewards.copy()
        rewards[100: 100 + (26, 25, 0, 40, 26)[i]] = 100.0  # the nail in (reward 25 + 75) for this many steps
        eps.append(dataclasses.replace(ep, rewards=rewards, seed=i))
    assert [recorded_success(e.rewards) for e in eps] == [int(np.sum(e.rewards > 50)) > 25 for e in eps] \
        == [True, False, False, True, True]
    _write_expert_set("test/hammer/ok-v0", eps, "test", "test episodes", successes_only=True)
    kept = load_episodes("test/hammer/ok-v0")
    assert len(kept) == 3
    for got, want in zip(kept, (eps[0], eps[3], eps[4])):
        np.testing.assert_allclose(got.rewards, want.rewards, rtol=1e-6)
    with pytest.raises(typer.Exit):
        _write_expert_set("test/hammer/none-v0", eps[1:3], "test", "test episodes", successes_only=True)
    assert not (tmp_path / "minari" / "test" / "hammer" / "none-v0").exists()


def test_hammer_task_loads_offline_from_a_generated_set(sim_episodes, tmp_path, monkeypatch):
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.hammer.dataset import GENERATED_EXPERT_ID
    from balancedrnn.train import TrainConfig

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset(GENERATED_EXPERT_ID, sim_episodes[:6], algorithm="test", description="six episodes")
    task = get_task("hammer")
    data = task.load(TrainConfig(task="hammer"), False)
    x, y = next(data.splits["train"].batches(2))
    assert (task.dx, task.dy) == (46, 26) and x.shape[-1] == task.dx and y.shape[-1] == task.dy
    assert "6 episodes" in data.source
    # hammer is scored by rollouts after training: without the simulator (here MuJoCo hidden) it trained the whole
    # run from Minari's data and then failed; now the load refuses in one line before any training
    import sys

    from balancedrnn.tasks import MissingExtra

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "mujoco", None)
        with pytest.raises(MissingExtra, match=r"Adroit Hammer needs the simulator \(mujoco is missing\)"):
            task.load(TrainConfig(task="hammer"), False)
    # a Minari data set of another environment (Pendulum: 3 observations, 1 action) is refused by size
    import gymnasium as gym
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buf = EpisodeBuffer(id=0, seed=0, observations=np.zeros((11, 3), np.float32), actions=np.zeros((10, 1), np.float32),
                        rewards=[0.0] * 10, terminations=[False] * 10, truncations=[False] * 9 + [True], infos={})
    minari.create_dataset_from_buffers("test/pendulum/tiny-v0", [buf], env=gym.make("Pendulum-v1"), algorithm_name="test",
                                       author="t", author_email="t", description="d", data_format="arrow")
    with pytest.raises(DataError, match=r"observations \(3,\) and actions \(1,\)"):
        load_episodes("test/pendulum/tiny-v0")


def test_nearest_neighbour_expert_replays_its_demonstrations_and_round_trips(sim_episodes, tmp_path):
    from balancedrnn.tasks.hammer.expert import (
        NearestNeighbourPolicy,
        dagger,
        load_expert,
    )

    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (300, 46)) * rng.uniform(0.01, 3, 46)  # distinct states, unequal scales
    act = rng.uniform(-1, 1, (300, 26))
    policy = NearestNeighbourPolicy(obs, act)
    picks = rng.choice(len(obs), 50, replace=False)
    # on a demonstrated state it returns that state's action
    np.testing.assert_allclose(policy(torch.as_tensor(obs[picks])).numpy(), act[picks], atol=1e-6)
    # elsewhere, the action of the nearest state in the normalised space (brute force in float64)
    q = obs[picks] + rng.normal(0, 0.3, obs[picks].shape) * obs.std(0)
    z = (obs - obs.mean(0)) / obs.std(0)
    zq = (q - obs.mean(0)) / obs.std(0)
    ref = act[((zq[:, None, :] - z[None]) ** 2).sum(-1).argmin(1)]
    np.testing.assert_allclose(policy(torch.as_tensor(q, dtype=torch.float32)).numpy(), ref, atol=1e-6)
    demos = sim_episodes[:3]
    # the DAgger driver scores it, stops at the goal (min_success 0: at once), saves and loads it
    messages = []
    dagger(demos, rounds=2, eval_episodes=2, directory=tmp_path, expert="nn", min_success=0.0, log=messages.append)
    assert len(messages) == 1 and "nn expert" in messages[0]
    loaded = load_expert(tmp_path / "expert.pt")
    fitted = NearestNeighbourPolicy(np.concatenate([ep.observations[:-1] for ep in demos]),
                                    np.concatenate([ep.actions for ep in demos]))
    x = torch.as_tensor(np.concatenate([ep.observations[5:50] for ep in sim_episodes[3:5]]), dtype=torch.float32)
    assert torch.equal(loaded(x), fitted(x))


# ------------------------------------------------------------------------------- levers and bad input (issue 19)
def test_dart_noise_perturbs_the_executed_action_but_records_the_expert_one():
    from balancedrnn.tasks.hammer.expert import action_jump

    torch.manual_seed(1)
    policy = ExpertPolicy(np.zeros(46), np.full(46, 0.05), hidden=16)
    clean = generate_episodes(policy, 1, seed=3, batch=1)[0]
    noisy = generate_episodes(policy, 1, seed=3, batch=1, noise=0.3)[0]
    with torch.no_grad():  # every recorded action is the policy's own action at the recorded state
        ref = policy(torch.as_tensor(noisy.observations[:-1], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(noisy.actions, ref, atol=1e-5)
    assert not np.allclose(noisy.observations, clean.observations)  # the noise moved the trajectory
    assert action_jump([clean]) == pytest.approx(float(np.mean(np.sqrt((np.diff(clean.actions, axis=0) ** 2).sum(1)))))
    with pytest.raises(ValueError, match="noise"):
        generate_episodes(policy, 1, noise=-0.1)


def test_distillation_resumes_and_refuses_other_settings(tmp_path):
    from balancedrnn.tasks.hammer.expert import distil

    torch.manual_seed(0)
    teacher = ExpertPolicy(np.zeros(46), np.full(46, 0.05), hidden=16).eval()
    logs: list[str] = []
    kw = {"episodes_per_round": 1, "eval_episodes": 1, "directory": tmp_path, "hidden": 16, "steps": 5, "log": logs.append}
    student = distil(teacher, rounds=1, **kw)
    assert len(logs) == 2 and sorted(p.name for p in tmp_path.glob("labels-*.npz")) == ["labels-00.npz", "labels-01.npz"]
    with np.load(tmp_path / "labels-01.npz") as z, torch.no_grad():  # round 1: the teacher labels the student's states
        np.testing.assert_allclose(z["labels"], teacher(torch.as_tensor(z["obs"])).numpy(), atol=1e-6)
    before = (tmp_path / "labels-00.npz").stat().st_mtime_ns
    again = distil(teacher, rounds=1, **kw)
    assert (tmp_path / "labels-00.npz").stat().st_mtime_ns == before  # reused, not recomputed
    x = torch.randn(5, 46)
    assert torch.equal(student(x), again(x))
    with pytest.raises(DataError, match="other settings") as e:
        distil(teacher, rounds=1, **{**kw, "steps": 6})
    # one line that names the setting that differs (the settings file is indented JSON: its lines were pasted in, and
    # the command line, printing the first, showed "... with other settings ({")
    assert "\n" not in str(e.value) and "steps 5 there, 6 now" in str(e.value), str(e.value)


def test_bad_expert_and_policy_files_are_refused_in_one_line(tmp_path):
    from balancedrnn.core.configs import build_model
    from balancedrnn.tasks.hammer.expert import load_expert
    from balancedrnn.tasks.hammer.policy import load_policy, save_policy
    from balancedrnn.train import TrainConfig

    for call, what in ((load_expert, "expert file"), (load_policy, "policy file")):
        with pytest.raises(DataError, match=f"{what} .* does not exist") as e:
            call(tmp_path / "missing.pt")
        assert "\n" not in str(e.value)
    torch.save({"something": torch.zeros(2)}, tmp_path / "other.pt")
    for call in (load_expert, load_policy):
        with pytest.raises(DataError, match="is not a Hammer"):
            call(tmp_path / "other.pt")
    # a policy trained for another task (RAD: 2,500 inputs, 10 outputs)
    rad = build_model("dense", 2500, 10, 30_000)
    save_policy(tmp_path / "rad.pt", rad, {**TrainConfig(task="rad", model="dense", budget=30_000).__dict__},
                np.zeros(46), np.ones(46))
    with pytest.raises(DataError, match="policy for task 'rad', not hammer"):
        load_policy(tmp_path / "rad.pt")
    # a Hammer policy round-trips: same outputs
    cfg = TrainConfig(task="hammer", model="dense", budget=20_000, readout="current")
    model = build_model("dense", 46, 26, 20_000, readout="current", seed=0)
    save_policy(tmp_path / "p.pt", model, {**cfg.__dict__}, np.arange(46.0), np.ones(46))
    loaded, mean, _, config = load_policy(tmp_path / "p.pt")
    x = torch.randn(2, 7, 46)
    assert torch.equal(loaded(x), model(x)) and mean[3] == 3.0 and config["readout"] == "current"
    # a policy file without its normalisation, or with it as a list: once a KeyError/AttributeError traceback
    payload = torch.load(tmp_path / "p.pt", weights_only=False)
    for key, value in (("obs_std", None), ("obs_mean", [0.0] * 46)):
        bad = {k: v for k, v in payload.items() if k != key} if value is None else {**payload, key: value}
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(DataError, match="is corrupt: its observation normalisation is") as e:
            load_policy(tmp_path / "bad.pt")
        assert "\n" not in str(e.value)


def test_cloning_data_refuses_too_few_episodes_and_wrong_sizes(sim_episodes):
    with pytest.raises(DataError, match="at least 3 episodes") as e:
        cloning_data(sim_episodes[:2])
    assert "\n" not in str(e.value)
    wrong_obs = [Episode(ep.observations[:, :40], ep.actions, ep.rewards) for ep in sim_episodes[:3]]
    wrong_act = [Episode(ep.observations, ep.actions[:, :20], ep.rewards) for ep in sim_episodes[:3]]
    for bad in (wrong_obs, wrong_act):
        with pytest.raises(DataError, match=r"episode 0 has observations \(201, (40|46)\) and actions \(200, (26|20)\)"):
            cloning_data(bad)


def _short_episodes(n, T=1):
    rng = np.random.default_rng(n)
    return [Episode(rng.normal(size=(T + 1, 46)), rng.uniform(-1, 1, (T, 26)).astype(np.float32), np.zeros(T))
            for _ in range(n)]


@pytest.mark.parametrize("n,fractions,sizes", [
    (5000, (0.9, 0.05, 0.05), (4500, 250, 250)),  # the paper's split (SPEC §5)
    (6, (1 / 7, 3 / 7, 3 / 7), None),  # hammer:actions asking 1/3/3 of a set of 6: validation and test rounded up
    (3, (0.05, 0.9, 0.05), None),
    (4, (0.1, 0.45, 0.45), None),
])
def test_cloning_splits_are_disjoint_cover_the_episodes_and_always_train(n, fractions, sizes):
    """Every episode in exactly one split, none empty (a split rounded past the episodes there are left training
    none: `error: need at least one array to concatenate`)."""
    episodes = _short_episodes(n)
    data = cloning_data(episodes, fractions=fractions, seed=3)
    got = {k: len(v.x) for k, v in data.splits.items()}
    assert min(got.values()) >= 1 and sum(got.values()) == n
    if sizes is not None:
        assert (got["train"], got["val"], got["test"]) == sizes
    rows = [a.tobytes() for v in data.splits.values() for a in v.target.numpy()]
    assert sorted(rows) == sorted(ep.actions.tobytes() for ep in episodes)  # each episode once


def test_cli_train_on_a_data_set_too_small_for_the_split(sim_episodes, tmp_path, monkeypatch, capsys):
    from clihelp import cli_env, run_main

    cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset("test/hammer/two-v0", sim_episodes[:2], algorithm="test", description="two episodes")
    code, err = run_main(["train", "--task", "hammer", "--model", "dense", "--budget", "20000", "--dataset",
                          "test/hammer/two-v0", "--out-dir", "runs", "-q"], capsys)
    assert code != 0 and "at least 3 episodes" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-written


def test_hammer_actions_zoo_task_against_the_episodes(sim_episodes, tmp_path, monkeypatch):
    """``hammer:actions``: the requested episodes drawn by data_seed, targets the episodes' own actions, inputs their
    observations normalised with the training statistics, chance MSE that of the training mean per (step, output);
    its meta-features; one line when the data set is missing."""
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import HAMMER_ACTIONS, is_zoo, meta_features
    from balancedrnn.train import TrainConfig

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset("test/hammer/zoo-v0", sim_episodes[:10], algorithm="test", description="ten episodes")
    task = get_task(HAMMER_ACTIONS)
    assert is_zoo(HAMMER_ACTIONS) and (task.dx, task.dy, task.loss, task.metric) == (46, 26, "all", "skill")
    cfg = TrainConfig(task=HAMMER_ACTIONS, dataset="test/hammer/zoo-v0", n_train=5, n_val=2, n_test=2, data_seed=3)
    data = task.load(cfg, False)
    assert [len(data[s].x) for s in ("train", "val", "test")] == [5, 2, 2] and "5/2/2" in data.source
    actions = {ep.actions.tobytes(): ep for ep in sim_episodes[:10]}
    train = data["train"]
    used = [actions[train.target[i].numpy().tobytes()] for i in range(len(train.target))]  # each target is an episode's actions
    obs = np.concatenate([ep.observations[:-1] for ep in used]).astype(np.float64)
    mean, std = obs.mean(0), np.maximum(obs.std(0), 1e-3)
    np.testing.assert_allclose(train.x.numpy().reshape(-1, 46), (obs - mean) / std, rtol=1e-4, atol=1e-4)
    test_y = data["test"].target.double().numpy()
    ref = ((test_y - train.target.double().numpy().mean(0, keepdims=True)) ** 2).mean()
    assert data.chance_mse["test"] == pytest.approx(ref, rel=1e-9)
    m = meta_features(task, n_train=5)
    assert (m["T"], m["n_train"], m["kind"], m["chance"]) == (200, 5, "regression", 0.0)
    asked = TrainConfig(task=HAMMER_ACTIONS, dataset="test/hammer/zoo-v0", n_train=50, n_val=5, n_test=5)
    assert "(the set holds 10)" in task.load(asked, False).source  # fewer than asked: said, not hidden
    with pytest.raises(DataError, match="no expert data set .* yet: make it with `balancedrnn data hammer`") as e:
        task.load(TrainConfig(task=HAMMER_ACTIONS), False)  # the default set, not made here (no download tried)
    assert "reproduce and sweep: --set dataset=D4RL/hammer/expert-v2" in str(e.value)  # they take no --dataset
    # the set written again under the same id (same size): this process's memory serves the new episodes, not the old
    again = task.load(cfg, False)
    assert torch.equal(again["train"].x, data["train"].x)  # same copy: the same data
    write_dataset("test/hammer/zoo-v0", sim_episodes[2:12],
                  algorithm="test", description="ten other episodes")
    rebuilt = task.load(cfg, False)
    assert rebuilt.source != data.source and not torch.equal(rebuilt["train"].target, data["train"].target)


def test_zoo_hammer_plan_sweeps_hammer_actions_and_its_smoke_makes_its_data():
    """The ``zoo-hammer`` plan: one zoo-* sweep of hammer:actions at two budgets (so the zoo predictor reads it), and
    a smoke scale on the tiny set the plan makes itself (the run itself is the same executor the other plans' smoke
    tests run)."""
    from balancedrnn.reproduce.plan import SMOKE_HAMMER_ID, load_plan, sweep_specs
    from balancedrnn.sweep.spec import trial_configs

    plan = load_plan("zoo-hammer")
    assert plan.data.get("hammer_smoke_episodes", 0) >= 3
    small, smoke = sweep_specs(plan, "small"), sweep_specs(plan, "smoke")
    assert [s.base["task"] for s in small] == ["hammer:actions"] and small[0].name.startswith("zoo-")
    assert len(small[0].sampler.budgets) == 2 and small[0].sampler.n_trials >= 60
    assert smoke[0].base["dataset"] == SMOKE_HAMMER_ID and smoke[0].base["epochs"] == 1
    assert len(trial_configs(small[0])) == 60  # both budgets reach the hidden-proportion range


def test_a_half_written_data_set_folder_is_replaced(sim_episodes, tmp_path, monkeypatch):
    """A folder Minari's listing skips as misconfigured (its metadata never written) no longer blocks writing that id:
    write_dataset replaces it, as it replaces a whole set of the same id."""
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    half = tmp_path / "minari" / "test" / "hammer" / "half-v0" / "data" / "0"
    half.mkdir(parents=True)
    (half / "part-0.arrow").write_text("junk")
    with pytest.warns(UserWarning, match="Misconfigured"):
        assert "test/hammer/half-v0" not in minari.list_local_datasets()
    write_dataset("test/hammer/half-v0", sim_episodes[:2], algorithm="test", description="two episodes")
    assert len(load_episodes("test/hammer/half-v0")) == 2
    write_dataset("test/hammer/half-v0", sim_episodes[:3], algorithm="test", description="three episodes")
    assert len(load_episodes("test/hammer/half-v0")) == 3


def test_a_missing_generated_id_fails_at_once_with_how_to_make_it(tmp_path, monkeypatch, capsys):
    """``balancedrnn/`` ids are never published: one that is not here is an error saying how to make it, without
    Minari's download (25 s of retries and a DNS error before)."""
    import minari

    from clihelp import cli_env, run_main

    tried = []
    monkeypatch.setattr(minari, "load_dataset", lambda *a, **k: tried.append(a) or 1 / 0)
    cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    hint = r"make it with `balancedrnn data hammer \.\.\. --dataset-id balancedrnn/hammer/nope-v0`"
    with pytest.raises(DataError, match=hint):
        load_episodes("balancedrnn/hammer/nope-v0", download=True)
    code, err = run_main(["train", "--task", "hammer", "--model", "dense", "--dataset", "balancedrnn/hammer/nope-v0",
                          "-q"], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--dataset-id balancedrnn/hammer/nope-v0" in err
    assert tried == []  # no download tried


def test_a_public_id_offline_is_one_line_without_the_hubs_retry_warnings(tmp_path, monkeypatch):
    """A public id that is not here: with BALANCEDRNN_OFFLINE=1 no download is tried; online without a network the
    Hugging Face hub's five 'Retrying in ...' warnings (10 lines on stderr before the error) are not printed."""
    import logging

    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    tried = []

    def no_network(*a, **k):
        tried.append(a)
        logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5].")
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(minari, "load_dataset", no_network)
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    with pytest.raises(DataError, match=r"D4RL/hammer/expert-v2.*downloads are off \(BALANCEDRNN_OFFLINE=1\)") as e:
        load_episodes("D4RL/hammer/expert-v2", download=True)
    assert tried == [] and "\n" not in str(e.value)

    # online without a network, in a fresh interpreter: Minari imports the hub only when it downloads, and the
    # hub's import sets its logger's level, so the warnings must be silenced after that import
    import subprocess
    import sys

    script = """
import logging, sys, minari
from balancedrnn.tasks.hammer.dataset import load_episodes
def no_network(*a, **k):
    import huggingface_hub.utils.logging  # what Minari's download does first
    logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5].")
    raise OSError("[Errno -2] Name or service not known")
minari.load_dataset = no_network
try:
    load_episodes("D4RL/hammer/expert-v2", download=True)
except Exception as e:
    print(f"error: {e}", file=sys.stderr)
"""
    monkeypatch.delenv("BALANCEDRNN_OFFLINE")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.stderr.strip().splitlines() == [
        "error: cannot load Minari data set 'D4RL/hammer/expert-v2': [Errno -2] Name or service not known"], p.stderr


@pytest.mark.parametrize("damage", ["episode-folder-gone", "metadata-counts-more", "metadata-counts-fewer",
                                    "episode-file-truncated", "episode-file-gone", "metadata-cut"])
def test_a_damaged_data_set_is_one_line_naming_it(sim_episodes, tmp_path, monkeypatch, capsys, damage):
    """An episode file that is gone or does not read (a set copied in part, or damaged on disk) is a one-line error
    naming the data set and what to do, not the bare path of the missing file (``error: .../data/1``)."""
    import json

    from clihelp import cli_env, run_main

    cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset("test/hammer/hurt-v0", sim_episodes[:3], algorithm="test", description="three episodes")
    data = tmp_path / "minari" / "test" / "hammer" / "hurt-v0" / "data"
    if damage == "episode-folder-gone":
        import shutil

        shutil.rmtree(data / "1")
    elif damage.startswith("metadata-counts"):  # fewer: an append that stopped between the episodes and the count
        meta = json.loads((data / "metadata.json").read_text())
        meta["total_episodes"] = 5 if damage.endswith("more") else 2
        (data / "metadata.json").write_text(json.dumps(meta))
    elif damage == "episode-file-gone":  # the folder stays: Minari read the set one episode short, unsaid
        next((data / "1").glob("*.arrow")).unlink()
    elif damage == "metadata-cut":  # Minari's listing skips the set: a generated id was 'not here yet, make it'
        write_dataset("balancedrnn/hammer/hurt-v0", sim_episodes[:3], algorithm="test", description="three episodes")
        for d in (data, tmp_path / "minari" / "balancedrnn" / "hammer" / "hurt-v0" / "data"):
            (d / "metadata.json").write_bytes((d / "metadata.json").read_bytes()[:50])
        with pytest.raises(DataError, match=r"data set balancedrnn/hammer/hurt-v0 is damaged or incomplete .*make it again"):
            load_episodes("balancedrnn/hammer/hurt-v0")
    else:
        part = next((data / "1").glob("*.arrow"))
        part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(DataError, match=r"data set test/hammer/hurt-v0 is damaged or incomplete .*make it again"):
        load_episodes("test/hammer/hurt-v0")
    code, err = run_main(["train", "--task", "hammer", "--model", "dense", "--dataset", "test/hammer/hurt-v0", "-q"],
                         capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "test/hammer/hurt-v0 is damaged" in err, err


@pytest.mark.parametrize("data_format", ["hdf5", "parquet"])
def test_a_minari_set_in_another_storage_format_loads(sim_episodes, tmp_path, monkeypatch, data_format):
    """A whole Minari data set in Minari's other formats loads like an arrow one (before: an hdf5 set, Minari's default
    format, has no episode folders, so every one was called damaged, with the advice to delete it)."""
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    from balancedrnn.tasks.hammer.env import ENV_ID, require_simulator

    if data_format == "hdf5":
        pytest.importorskip("h5py")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    require_simulator()
    eps = sim_episodes[:3]
    buffers = [EpisodeBuffer(id=i, seed=None, observations=ep.observations, actions=ep.actions,
                             rewards=list(map(float, ep.rewards)), terminations=[False] * 200,
                             truncations=[False] * 199 + [True], infos={}) for i, ep in enumerate(eps)]
    with pytest.warns(UserWarning):  # Minari's note that no evaluation environment was given
        minari.create_dataset_from_buffers(f"test/hammer/{data_format}-v0", buffers, env=ENV_ID, algorithm_name="test",
                                           author="t", author_email="t", description="d", data_format=data_format)
    got = load_episodes(f"test/hammer/{data_format}-v0")
    assert len(got) == 3
    for g, want in zip(got, eps):
        np.testing.assert_array_equal(g.observations, want.observations)
        np.testing.assert_array_equal(g.actions, want.actions)


def test_a_sets_stamp_is_read_where_the_set_is_even_first_in_a_process(sim_episodes, tmp_path, monkeypatch):
    """``dataset_stamp`` (which copy of a set is on disk, keying hammer:actions' data in memory) looked in Minari's own
    default root until something else had set the cache as the root: the first trial of a process got an empty stamp
    (so its data were built again by the next trial) and a stray ~/.minari folder was made."""
    from balancedrnn.tasks.hammer.dataset import dataset_stamp

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)
    write_dataset("test/hammer/stamp-v0", sim_episodes[:3], algorithm="test", description="three episodes")
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)  # as in a new process: the root not chosen yet
    st = (tmp_path / "cache" / "minari" / "test" / "hammer" / "stamp-v0" / "data" / "metadata.json").stat()
    assert dataset_stamp("test/hammer/stamp-v0") == f"{st.st_ino}-{st.st_mtime_ns}"
    assert not (tmp_path / "home" / ".minari").exists()


@pytest.mark.parametrize("error", [MemoryError, PermissionError])
def test_a_machine_error_while_reading_a_data_set_is_not_called_damage(sim_episodes, tmp_path, monkeypatch, error):
    """Running out of memory or a file the user may not read says so; it is not reported as a damaged set to delete."""
    from minari.dataset.minari_dataset import MinariDataset

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset("test/hammer/fine-v0", sim_episodes[:3], algorithm="test", description="three episodes")

    def fail(self):
        raise error("the machine")
        yield

    monkeypatch.setattr(MinariDataset, "iterate_episodes", fail)
    with pytest.raises(error):
        load_episodes("test/hammer/fine-v0")


def test_a_write_killed_midway_leaves_the_old_set_and_no_half_written_one(sim_episodes, tmp_path, monkeypatch):
    """``write_dataset`` builds the set aside and moves it into place whole: a process killed (SIGKILL, no clean-up)
    while Minari writes the episodes leaves the set of that id as it was, never a half-written one in its place."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    write_dataset("test/hammer/kill-v0", sim_episodes[:2], algorithm="test", description="two episodes")
    script = """
import numpy as np
from balancedrnn.tasks.hammer.dataset import Episode, write_dataset
rng = np.random.default_rng(0)
eps = [Episode(rng.normal(size=(201, 46)), rng.uniform(-1, 1, (200, 26)).astype(np.float32), rng.normal(size=200), i)
       for i in range(3000)]
write_dataset("test/hammer/kill-v0", eps, "test", "many episodes")
"""
    p = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not any(root.glob("**/data/20")) and p.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert p.poll() is None, "the writer finished before it was killed"
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    eps = load_episodes("test/hammer/kill-v0")
    assert len(eps) == 2
    np.testing.assert_allclose(eps[1].actions, sim_episodes[1].actions, rtol=1e-6)
    write_dataset("test/hammer/kill-v0", sim_episodes[:3], algorithm="test", description="three episodes")
    assert len(load_episodes("test/hammer/kill-v0")) == 3


def test_no_run_is_scored_on_the_data_sets_reset_seeds_nor_on_another_runs():
    """Seed 10 was scored on reset seeds 1,000,000..1,000,099: the first episodes of every generated data set, the
    nail heights the policy trained on. Scoring seeds of runs 0..199 (100 rollouts each), selection seeds of runs
    0..69 and the data's first 100,000 episodes are pairwise disjoint; seeds below 10 score as before."""
    from balancedrnn.tasks.hammer.rollout import DATA_SEED, score_seeds, select_seeds

    data = set(range(DATA_SEED, DATA_SEED + 100_000))
    scored: set[int] = set()
    for s in range(200):
        mine = set(range(score_seeds(s), score_seeds(s) + 100))
        assert not mine & data and not mine & scored, s
        scored |= mine
    for s in range(70):
        mine = set(range(select_seeds(s), select_seeds(s) + 1000))
        assert not mine & data and not mine & scored, s
    assert [score_seeds(s) for s in range(10)] == [s * 100_000 for s in range(10)]  # every published run's scoring


@pytest.mark.parametrize("task", ["hammer", "hammer:actions"])
def test_paper_applies_the_hammer_protocol_to_both_hammer_tasks(task):
    """``--paper`` on a Hammer task is SPEC §5's Hammer protocol: Adam lr 1e-4, 25 epochs, batch 64 episodes, the
    paper's 4,500/250/250 episode split (before: hammer:actions got RAD's batch 16 and 30,000/1,000/1,000, so its
    episodes were split 94/3/3 %)."""
    from balancedrnn.cli import _resolve

    got = _resolve(True, task, epochs=None, lr=None, batch_size=None, n_train=None, n_val=None, n_test=None)
    assert got == {"epochs": 25, "lr": 1e-4, "batch_size": 64, "n_train": 4500, "n_val": 250, "n_test": 250}
    assert _resolve(True, task, epochs=3, lr=None, batch_size=None)["epochs"] == 3  # what is given is kept


def test_data_id_tells_a_regenerated_set_of_the_same_id_and_size_from_the_old(sim_episodes, tmp_path, monkeypatch):
    """A run's data id was the hash of 'Minari data set <id> (<n> episodes)': a set regenerated under the same id
    with as many episodes (another expert, `data hammer --rebuild`) had the old id, so a resumed sweep counted the
    trials trained on the old episodes as done on the new ones. The id now follows the episodes' content, for both
    Hammer tasks; the same content gives the same id."""
    from balancedrnn.tasks import get_task, zoo
    from balancedrnn.tasks.zoo import HAMMER_ACTIONS
    from balancedrnn.train import TrainConfig, data_fingerprint

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    ids = {}
    for label, eps in (("a", sim_episodes[:6]), ("b", sim_episodes[6:12]), ("a again", sim_episodes[:6])):
        write_dataset("test/hammer/regen-v0", eps, algorithm="test", description="six episodes")
        zoo._MEMO_BY_REQUEST.clear()  # a new process would not have the old set in memory
        ids[label] = [data_fingerprint(get_task(name).load(TrainConfig(task=name, dataset="test/hammer/regen-v0",
                                                                     n_train=4, n_val=1, n_test=1), False))
                      for name in ("hammer", HAMMER_ACTIONS)]
    assert ids["a"][0] != ids["b"][0] and ids["a"][1] != ids["b"][1]
    assert ids["a again"] == ids["a"]
