import pytest

from balancedrnn.baselines import RecurrentBaseline
from balancedrnn.configs import build_model, config_density
from balancedrnn.model import BlockRNN
from balancedrnn.spec import BLOCKS, SpecError


def test_named_configs():
    assert config_density("dense", 10, 2, 1000) == {b: 1.0 for b in BLOCKS}
    assert config_density("uniform:0.2", 10, 2, 1000) == {b: 0.2 for b in BLOCKS}
    assert config_density("110100", 10, 2, 1000) == dict(zip(BLOCKS, (1, 1, 0.1, 1, 0.1, 0.1)))
    assert config_density("011000:0.3", 10, 2, 1000) == dict(zip(BLOCKS, (0.3, 1, 1, 0.3, 0.3, 0.3)))
    std = config_density("standard", 10, 2, 1000)
    assert std["hy"] == std["yx"] == std["yy"] == 0
    explicit = config_density("hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1", 10, 2, 1000)
    assert explicit == dict(zip(BLOCKS, (0.1, 1, 1, 0.1, 0.1, 0.1)))


@pytest.mark.parametrize("dx,dy,budget", [(2500, 10, 100_000), (46, 26, 400_000)])
def test_balanced_is_balanced(dx, dy, budget):
    m = build_model("balanced", dx, dy, budget)
    assert isinstance(m, BlockRNN)
    assert m.hidden_proportion() == pytest.approx(0.5, abs=0.01)
    assert abs(m.weights - budget) / budget < 0.02
    m = build_model("balanced:0.3", dx, dy, budget)
    assert m.hidden_proportion() == pytest.approx(0.3, abs=0.01)


def test_baseline_configs():
    assert isinstance(build_model("lstm", 20, 3, 5000), RecurrentBaseline)
    assert build_model("GRU", 20, 3, 5000).kind == "gru"


@pytest.mark.parametrize(
    "bad",
    ["sparse", "uniform", "uniform:x", "uniform:2", "12345", "110100:1.5", "hx=0.1", "hx=1,hh=1,hy=1,yx=1,yh=1,qq=1", "hx"],
)
def test_bad_configs(bad):
    with pytest.raises(SpecError) as e:
        config_density(bad, 10, 2, 1000)
    assert "\n" not in str(e.value)
