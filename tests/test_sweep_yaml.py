"""YAML as the sweep files, plans and ``--set`` read it (``sweep.spec.yaml_load``): 1e-3 is a number."""

import pytest

yaml = pytest.importorskip("yaml")

from balancedrnn.sweep.spec import yaml_load, yaml_scalar  # noqa: E402


@pytest.mark.parametrize("text,value", [
    ("1e-3", 1e-3), ("5E-4", 5e-4), ("-1e3", -1e3), ("+2.5e-2", 2.5e-2), ("1.0e-3", 1e-3), (".5", 0.5),
    ("[1e-4, 1e-2]", [1e-4, 1e-2]), ("{lr: 3e-4}", {"lr": 3e-4}),
])
def test_exponents_without_a_dot_are_numbers(text, value):
    """A user writing a learning rate as ``1e-3`` means the number."""
    assert yaml_load(text, "testing") == value


def test_plain_pyyaml_reads_them_as_text():
    """Why yaml_load exists: PyYAML follows YAML 1.1, where a float needs a dot."""
    assert yaml.safe_load("1e-3") == "1e-3" and yaml.safe_load("lr: 5E-4") == {"lr": "5E-4"}


@pytest.mark.parametrize("text", ["1", "0x10", "abc", "1e", "e3", "yes", "[1, two]", "name: s", "1.5", ""])
def test_everything_else_reads_as_safe_load_reads_it(text):
    assert yaml_load(text, "testing") == yaml.safe_load(text)


def test_it_stays_a_safe_loader():
    with pytest.raises(yaml.YAMLError):
        yaml_load("!!python/object/apply:os.system ['true']", "testing")


@pytest.mark.parametrize("value", ["1e-3", "1.5", "yes", "a b", "/data/my mnist", 1e-5, 3, 0.5, True, None, "", "12"])
def test_a_scalar_written_reads_back_equal(value):
    assert yaml_load(yaml_scalar(value), "testing") == value


def test_an_integral_float_counts_as_the_integer_it_names():
    """``--set n_train=3e2`` reads as the float 300.0; the config and the sweep's base take it as 300 (a
    fractional value is still refused)."""
    from balancedrnn.sweep.spec import SweepSpec
    from balancedrnn.train import TrainConfig

    cfg = TrainConfig(n_train=yaml_load("3e2", "test"), epochs=2.0)
    assert cfg.n_train == 300 and type(cfg.n_train) is int and type(cfg.epochs) is int
    spec = SweepSpec.from_dict({"base": {"n_train": yaml_load("3e2", "test"), "lr": 1e-3}})
    assert spec.base == {"n_train": 300, "lr": 1e-3} and type(spec.base["n_train"]) is int
    with pytest.raises(ValueError, match="n_train must be a positive integer, got 300.5"):
        TrainConfig(n_train=300.5)


@pytest.mark.parametrize("text", ["a: 1\na: 2", "sweeps:\n  - name: s\n    base: {task: rad}\n    base: {epochs: 3}",
                                  "{lr: 1e-3, lr: 2e-3}"])
def test_a_key_given_twice_is_refused(text):
    """PyYAML keeps the last of two equal keys: a plan sweep's second ``base:`` silently dropped the first (its
    task, epochs, budget). yaml_load refuses it, naming the key and its line; YAML merge keys still override."""
    with pytest.raises(yaml.YAMLError, match="found duplicate key") as e:
        yaml_load(text, "testing")
    assert e.value.problem_mark is not None
    assert yaml_load("base: &b {lr: 1, epochs: 2}\nother: {<<: *b, lr: 3}", "testing")["other"] == {"lr": 3, "epochs": 2}
