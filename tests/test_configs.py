import pytest

from balancedrnn.core.baselines import RecurrentBaseline
from balancedrnn.core.configs import build_model, config_density
from balancedrnn.core.model import BlockRNN
from balancedrnn.core.spec import BLOCKS, BlockSpec, SpecError


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
    assert build_model("mlp", 20, 3, 5000).kind == "mlp"


@pytest.mark.parametrize(
    "bad",
    ["sparse", "uniform", "uniform:x", "uniform:2", "12345", "110100:1.5", "hx=0.1", "hx=1,hh=1,hy=1,yx=1,yh=1,qq=1", "hx"],
)
def test_bad_configs(bad):
    with pytest.raises(SpecError) as e:
        config_density(bad, 10, 2, 1000)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------ one grammar: parse and format
from balancedrnn.core.configs import (  # noqa: E402
    BALANCED_BASE,
    ConfigSpec,
    balanced_density,
    check_fits,
    config_family,
    explicit_config,
    format_config,
    is_baseline,
    parse_config,
)
from balancedrnn.sweep.spec import density_string  # noqa: E402

# (as typed, canonical form): every named config, with case and spaces that must be normalised
NAMED = [
    ("dense", "dense"), ("DENSE ", "dense"), ("standard", "standard"), (" Standard", "standard"),
    ("uniform:0.2", "uniform:0.2"), ("Uniform : 0.2", "uniform:0.2"), ("uniform:1", "uniform:1"),
    ("uniform:1.0", "uniform:1"), ("uniform:0", "uniform:0"), ("uniform:2e-1", "uniform:0.2"),
    ("110100", "110100"), ("110100:0.1", "110100"), ("011000:0.3", "011000:0.3"), ("000000 : 0.25", "000000:0.25"),
    ("balanced", "balanced"), ("BALANCED:0.5", "balanced"), ("balanced:0.3", "balanced:0.3"),
    ("balanced : 0.7", "balanced:0.7"),
    ("hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1", "hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1"),
    ("HH = 1, hx=0.1, yy=0.1,yh=0.1,yx=0.1,hy=1.0", "hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1"),
    ("hx=0.123456789,hh=1,hy=0,yx=0,yh=1,yy=0", "hx=0.123456789,hh=1,hy=0,yx=0,yh=1,yy=0"),
    ("lstm", "lstm"), ("GRU", "gru"), (" rnn ", "rnn"), ("MLP", "mlp"), (" mlp", "mlp"),
]


@pytest.mark.parametrize("text,canonical", NAMED)
def test_format_is_the_inverse_of_parse(text, canonical):
    spec = parse_config(text)
    assert format_config(spec) == canonical
    assert parse_config(format_config(spec)) == spec
    assert format_config(parse_config(canonical)) == canonical
    assert config_family(text) == spec.family == config_family(canonical)
    assert is_baseline(text) == (spec.family in ("lstm", "gru", "rnn", "mlp"))


def test_parsed_families_and_arguments():
    assert parse_config("uniform:0.2") == ConfigSpec("uniform", value=0.2)
    assert parse_config("011000:0.3") == ConfigSpec("structured", value=0.3, code="011000")
    assert parse_config("110100") == ConfigSpec("structured", value=0.1, code="110100")
    assert parse_config("balanced") == parse_config("balanced:0.5") == ConfigSpec("balanced", value=0.5)
    assert parse_config("hh=1,hx=0.5,hy=0,yx=0,yh=1,yy=0") == ConfigSpec("explicit", densities=(0.5, 1, 0, 0, 1, 0))


@pytest.mark.parametrize("bad", [
    "balanced0.3", "balancedx", "balanced:", "balanced:x", "balanced:0", "balanced:1", "balanced:1.5",
    "uniform0.2", "uniform:", "uniform", "uniform:x", "uniform:2", "uniform:-0.1", "uniform:nan",
    "110100:", "110100:x", "110100:1.5", "12345", "1101001", "110200", "dense:0.2", "lstm:1", "mlp:2", "bal anced", "",
    "hx=0.5,,hh=1", "hx=0.1", "hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1,hx=0.2", "hx=0.1,hh=1,hy=1,yx=0.1,yh=0.1,qq=1",
    "hx=x,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1", "hx=1.5,hh=1,hy=1,yx=0.1,yh=0.1,yy=0.1", "hx",
    "uniform:0.2_5", "balanced:0_3", "110100:0.0_5", "hx=0.5,hh=1,hy=0_1,yx=0,yh=1,yy=0",  # Python reads 0.2_5 as 0.25
])
def test_malformed_configs_are_refused_in_one_line(bad):
    for call in (parse_config, config_family, is_baseline, lambda c: config_density(c, 10, 2, 1000),
                 lambda c: check_fits(c, 10, 2, 1000)):
        with pytest.raises(SpecError) as e:
            call(bad)
        assert "\n" not in str(e.value) and str(e.value)


def _old_density_string(density):
    """How sweeps wrote explicit densities before issue 17 (part of stored trial keys)."""
    return ",".join(f"{b}={density[b]:.6g}" for b in BLOCKS)


def test_explicit_strings_are_byte_identical_and_round_trip():
    import random

    rng = random.Random(17)
    specials = [0.0, 1.0, 0.02, 1e-5, 0.1, 0.5, 0.123456789, 0.9999995, 0.99999949, 1 / 3, 2 / 3, 5e-7]
    for i in range(3000):
        if i < len(specials):
            density = {b: specials[(i + k) % len(specials)] for k, b in enumerate(BLOCKS)}
        else:
            density = {b: rng.choice([rng.random(), abs(rng.gauss(0.5, 0.25)) % 1, 10 ** -rng.uniform(0, 7)]) for b in BLOCKS}
        text = density_string(density)
        assert text == explicit_config(density) == _old_density_string(density)
        spec = parse_config(text)
        assert format_config(spec) == text  # written by sweeps = canonical
        assert config_density(text, 10, 2, 1e6) == {b: float(f"{density[b]:.6g}") for b in BLOCKS}
        full = ConfigSpec("explicit", densities=tuple(density[b] for b in BLOCKS))  # every digit survives
        assert parse_config(format_config(full)) == full


def test_balanced_solves_hx_for_wide_inputs_and_hh_for_narrow():
    from balancedrnn.core.spec import budget_hidden_proportion

    wide, narrow = balanced_density(2500, 10, 100_000), balanced_density(46, 26, 400_000)
    assert wide["hh"] == 1.0 and wide["hx"] < 1.0
    assert narrow["hx"] == 1.0 and narrow["hh"] < 1.0
    for (dx, dy, budget), d in (((2500, 10, 100_000), wide), ((46, 26, 400_000), narrow)):
        assert {b: d[b] for b in BLOCKS if b not in ("hx", "hh")} == {b: BALANCED_BASE[b] for b in ("hy", "yx", "yh", "yy")}
        assert budget_hidden_proportion(dx, dy, budget, d) == pytest.approx(0.5, abs=1e-6)


def test_balanced_needs_its_base_to_fit():
    # W(0.5) of BALANCED_BASE at dx=2500, dy=10: 0.5*2500 + 0.25 + 0.5*10 + 0.1*25000 + 0.1*5 + 0.1*100 = 3765.75
    with pytest.raises(SpecError, match="smallest feasible budget is 3766"):
        config_density("balanced", 2500, 10, 500)


def test_split_configs_keeps_explicit_densities_whole():
    """A --models list where explicit configs carry their own commas: each config comes back whole, and the
    pieces of one that lacks a block stay together for parse_config to refuse (never split into fragments)."""
    from balancedrnn.core.configs import parse_config, split_configs

    a, b = "hx=0.2,hh=1,hy=1,yx=1,yh=1,yy=1", "hx=1,hh=0.2,hy=1,yx=1,yh=1,yy=1"
    assert split_configs(f"dense, {a},uniform:0.2,{a},{b},balanced,lstm,") == ["dense", a, "uniform:0.2", a, b, "balanced", "lstm"]
    assert split_configs(f"{a},{b}") == [a, b]  # hx again starts the next one
    assert split_configs("yy=1,hx=0.5,hh=0.5") == ["yy=1,hx=0.5,hh=0.5"]  # any order of blocks
    assert split_configs("dense,,uniform:0.1") == ["dense", "uniform:0.1"]
    assert split_configs("") == []
    (short,) = split_configs("hx=0.2,hh=1")
    with pytest.raises(SpecError, match="missing block"):
        parse_config(short)
    for text in ("dense", a, "balanced:0.3", "110100:0.2", "gru"):
        assert split_configs(text) == [text]


@pytest.mark.parametrize("dx, dy, config, budget", [
    (1, 2, "balanced", 1),          # the base fits at 3 weights, but hidden proportion 0.5 needs more
    (1, 2, "balanced", 3),          # the base fits here: the error used to say "out of reach" with no budget
    (2500, 10, "balanced:0.9", 3700),  # the error used to name 3766, where balanced:0.9 is out of reach
    (2500, 10, "balanced", 500),
])
def test_the_smallest_feasible_budget_a_balanced_config_names_is_one_at_which_it_exists(dx, dy, config, budget):
    import re

    with pytest.raises(SpecError, match=r"the smallest feasible budget is \d+") as e:
        config_density(config, dx, dy, budget)
    assert "\n" not in str(e.value)
    smallest = int(re.search(r"the smallest feasible budget is (\d+)", str(e.value)).group(1))
    BlockSpec.from_budget(dx, dy, smallest, config_density(config, dx, dy, smallest))  # it exists there
    with pytest.raises(SpecError, match="smallest feasible budget is"):
        config_density(config, dx, dy, smallest - 1)  # and not one weight below


def test_a_density_so_low_that_the_hidden_size_is_absurd_is_refused_before_any_work():
    """uniform:1e-9 at 7,500 weights on a 28-wide input is feasible, but its hidden size is 2.7 million: drawing the
    hh block's mask allocated a permutation of its 7.5e12 entries (60 TB) after the data were loaded, and the run
    failed with the allocator's message. It is refused with the budget's check, naming the block."""
    from balancedrnn.core.configs import check_fits
    from balancedrnn.train import TrainConfig, check_config

    with pytest.raises(SpecError, match=r"hidden size 2,738,589 makes block hh .* above the limit of 1,000,000,000"):
        check_fits("uniform:1e-9", 28, 10, 7_500)
    with pytest.raises(SpecError, match="block hh"):
        check_config(TrainConfig(task="mnist:rows", model="uniform:1e-9", budget=7_500))
    check_fits("uniform:1e-5", 28, 10, 7_500)  # dh 27,000: 7.3e8 entries, a mask that can still be drawn
    check_fits("lstm", 28, 10, 7_500)
    # the Python API too: build_model (and BlockRNN itself) went on to the allocator's error
    from balancedrnn import build_model

    with pytest.raises(SpecError, match=r"hidden size 2,738,589 makes block hh .* above the limit of 1,000,000,000"):
        build_model("uniform:1e-9", 28, 10, 7_500)


def test_split_configs_ignores_case_like_the_grammar():
    """The grammar is case-insensitive, so an explicit config written in capitals (``HX=0.1,HH=1,...``), which
    parse_config reads as one config, stays one config in a --models list: it used to be split into six
    fragments, each refused as missing blocks."""
    from balancedrnn.core.configs import parse_config, split_configs

    upper = "HX=0.1,HH=1,HY=1,YX=0.1,YH=0.1,YY=0.1"
    mixed = "hx=0.2,Hh=1,hY=1,yx=1,YH=1,yy=1"
    assert split_configs(upper) == [upper]
    assert split_configs(f"dense,{upper},{mixed},lstm") == ["dense", upper, mixed, "lstm"]
    assert split_configs(f"{upper},hx=0.5,hh=1,hy=1,yx=1,yh=1,yy=1")[1:] == ["hx=0.5,hh=1,hy=1,yx=1,yh=1,yy=1"]
    for config in split_configs(f"{upper},{mixed}"):
        assert parse_config(config).family == "explicit"


def test_a_density_written_minus_zero_is_zero():
    """-0 is the density 0: its canonical text used to be '-0' (``110100:-0``, ``hy=-0``), so compare took
    ``110100:0`` and ``110100:-0`` for two configs and trained the same model twice under two trial keys, and the
    standard RNN written with ``hy=-0`` was not ``standard``."""
    import math

    from balancedrnn.core.configs import format_config, parse_config, same_config

    assert format_config(parse_config("110100:-0")) == "110100:0"
    assert format_config(parse_config("uniform:-0.0")) == "uniform:0"
    explicit = parse_config("hx=1,hh=1,hy=-0,yx=0,yh=1,yy=-0.0")
    assert format_config(explicit) == "hx=1,hh=1,hy=0,yx=0,yh=1,yy=0"
    assert all(math.copysign(1, p) == 1 for p in explicit.densities)
    assert same_config("110100:-0") == same_config("110100:0")
    assert same_config("hx=1,hh=1,hy=-0,yx=0,yh=1,yy=0") == same_config("standard")


@pytest.mark.parametrize("config", ["lstm", "gru", "rnn", "mlp", "uniform:0.3"])
def test_build_model_refuses_a_wrong_option_name_for_every_config(config):
    """A misspelt readout, activation or kernel is an error for a baseline too (which ignores them), as a wrong
    init scale already was and as the command line's options are: build_model('lstm', ..., readout='curent') used to
    build the LSTM without a word."""
    from balancedrnn.core.configs import build_model

    for option, value, message in (("readout", "curent", "unknown readout"), ("activation", "rlu", "unknown activation"),
                                   ("kernel", "sparce", "unknown kernel")):
        with pytest.raises(ValueError, match=message):
            build_model(config, 5, 2, 500, **{option: value})
    for readout in ("lagged", "current"):
        assert build_model(config, 5, 2, 500, readout=readout, activation="tanh", kernel="dense") is not None


@pytest.mark.parametrize("config,dx,dy,budget", [("balanced", 4, 2, 15), ("dense", 1, 2, 15), ("dense", 1, 2, 36),
                                                  ("dense", 28, 10, 5000), ("uniform:0.2", 28, 10, 5000)])
def test_a_block_model_says_when_its_weights_miss_the_budget(config, dx, dy, budget):
    """Rounding dh at a small budget can put the realised model 20 % off its budget: the summary (and so
    `train`/`spec`) says so, as a baseline's does; within the tolerance it says nothing."""
    from balancedrnn.core.configs import config_summary
    from balancedrnn.core.spec import BUDGET_TOLERANCE

    model = build_model(config, dx, dy, budget, seed=0)
    weights = sum(int(model.blocks[b].index.numel()) for b in BLOCKS)  # counted from the masks themselves
    off = abs(weights - budget) > BUDGET_TOLERANCE * budget
    note = model.summary()["budget_note"]
    assert bool(note) == off
    assert config_summary(config, dx, dy, budget)["budget_note"] == note
    if off:
        assert f"{weights:,} weights" in note and f"hidden size rounds to {model.dh}" in note
