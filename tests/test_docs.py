"""The docs' command lines stay true: every ``balancedrnn`` command written in README.md and docs/*.md names a
command that exists and only options that command has (checked against the click command tree the script runs,
so a renamed or removed option fails here, not in a user's terminal)."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "bad_input.md")]
"""The markdown files checked (docs/bad_input.md's command lines are wrong on purpose; tests/test_bad_input.py
checks that file's messages instead)."""
PROG = re.compile(r"(?:^|\s)(?:\S*/)?balancedrnn\s")


def _logical_lines(text: str) -> list[str]:
    """Lines of the fenced bash blocks (and `` `balancedrnn ...` `` code spans elsewhere), continuations joined."""
    out: list[str] = []
    in_bash = False
    for raw in text.split("\n"):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):  # fences may be indented (code inside a list item)
            in_bash = line.strip() in ("```bash", "```sh", "```console")
            continue
        if in_bash:
            if out and out[-1].endswith("\\"):
                out[-1] = out[-1][:-1] + " " + line.strip()
            else:
                out.append(line.strip())
        else:
            out += [m.group(1) for m in re.finditer(r"`(\.venv/bin/balancedrnn [^`]+|balancedrnn [^`]+)`", line)]
    return out


def command_lines(path: Path) -> list[str]:
    """The ``balancedrnn`` invocations in one markdown file, comments dropped."""
    found = []
    for line in _logical_lines(path.read_bytes().decode("utf-8")):
        code = line.split(" #", 1)[0] if not line.startswith("#") else ""
        m = PROG.search(code)
        if m:
            found.append(code[m.end():].strip())
    return found


def _resolve(root: click.Command, tokens: list[str]) -> tuple[click.Command, list[str]]:
    """Walk the subcommand names; returns the leaf command and the tokens after its name."""
    cmd, rest = root, list(tokens)
    while _is_group(cmd) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(click.Context(cmd), rest[0])  # type: ignore[attr-defined]
        if sub is None:
            break
        cmd, rest = sub, rest[1:]
    return cmd, rest


def _is_group(cmd: click.Command) -> bool:
    return hasattr(cmd, "list_commands")  # typer's group is click's in behaviour, not always by class


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


CASES = [pytest.param(path, line, id=f"{path.name}:{line[:60]}") for path in DOCS for line in command_lines(path)]


def test_the_docs_have_command_lines_to_check() -> None:
    """The parser finds the README's main job and its reproduce lines (a parser that finds nothing checks nothing)."""
    readme = command_lines(REPO / "README.md")
    assert any(line.startswith("compare --models dense,uniform:0.2,balanced,lstm") for line in readme), readme[:5]
    assert sum(line.startswith("reproduce ") for line in readme) >= 5
    assert len(CASES) >= 60


@pytest.mark.parametrize("path,line", CASES)
def test_documented_command_lines_use_real_options(path: Path, line: str) -> None:
    from balancedrnn.cli import app

    try:
        tokens = shlex.split(line)
    except ValueError as e:  # an unbalanced quote in the docs
        pytest.fail(f"{path.name}: cannot split {line!r}: {e}")
    root = typer.main.get_command(app)
    cmd, rest = _resolve(root, tokens)
    assert cmd is not root or not tokens or tokens[0].startswith("-"), f"{path.name}: unknown command in {line!r}"
    assert not _is_group(cmd) or any(t.startswith("-") for t in rest), (
        f"{path.name}: {line!r} names a group, not a command")
    known = _options(cmd)
    used = {t.strip("[]").split("=", 1)[0] for t in rest if t.strip("[").startswith("--")}
    unknown = sorted(used - known)
    assert not unknown, f"{path.name}: {line!r} uses {unknown}, which `balancedrnn {cmd.name}` does not have"



def test_documented_commands_name_no_path_outside_the_repository() -> None:
    """A command is run from a fresh clone, where a path that climbs out of it (`--mnist-dir ../shared/...`, the
    layout of the machine the docs were written on) names nothing: give a placeholder such as `<MNIST idx files>`.
    The benchmark and experiment scripts' own usage lines are held to the same rule."""
    lines = [(p.name, line) for p in DOCS for line in _logical_lines(p.read_bytes().decode("utf-8"))]
    lines += [(p.relative_to(REPO).as_posix(), line) for p in sorted([*(REPO / "benchmarks").glob("*.py"),
                                                                      *(REPO / "experiments").glob("*.py")])
              for line in p.read_text().splitlines() if "Run:" in line or "python" in line]
    bad = [(name, line) for name, line in lines if re.search(r"(?:^|[\s=])\.\./", line.split(" #", 1)[0])]
    assert not bad, bad



def _github_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a markdown file's headings: lower case, punctuation but - and _ dropped, spaces
    to hyphens, a repeated heading suffixed -1, -2, ..."""
    text = re.sub(r"^```.*?^```", "", path.read_bytes().decode("utf-8"), flags=re.S | re.M)
    anchors: set[str] = set()
    times: dict[str, int] = {}
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        anchors.add(f"{slug}-{times[slug]}" if slug in times else slug)
        times[slug] = times.get(slug, 0) + 1
    return anchors


def test_links_between_the_docs_reach_a_file_and_heading() -> None:
    """Before: README's link to docs/design.md#estimators (the check_estimator exceptions) led to the top of the
    file: the heading is "Estimators and your own data (...)", whose anchor is longer."""
    bad = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", path.read_bytes().decode("utf-8"), flags=re.S | re.M)
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", link):
                continue
            file, _, anchor = link.partition("#")
            target = (path.parent / file) if file else path
            if not target.exists():
                bad.append((path.name, link, "no such file"))
            elif anchor and target.suffix == ".md" and anchor not in _github_anchors(target):
                bad.append((path.name, link, "no such heading"))
    assert not bad, bad


def test_the_checker_catches_a_wrong_option() -> None:
    """The check itself can fail: an option that does not exist is reported."""
    from balancedrnn.cli import app

    cmd, rest = _resolve(typer.main.get_command(app), shlex.split("reproduce hammer --scale paper --no-such-flag"))
    assert cmd.name == "reproduce" and "--no-such-flag" not in _options(cmd) and "--scale" in _options(cmd)


# ------------------------------------------------------------------------------ experiment and benchmark scripts
SCRIPT = re.compile(r"(?:^|\s)(?:\S*/)?python3?\s+(?:-\S+\s+)*((?:experiments|benchmarks)/\w+\.py)\b(.*)$")


def script_lines() -> dict[tuple[str, str], set[str]]:
    """The options each documented ``experiments/*.py`` / ``benchmarks/*.py`` call uses, by (script, subcommand)."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in DOCS:
        for line in _logical_lines(path.read_bytes().decode("utf-8")):
            code = line.split(" #", 1)[0] if not line.startswith("#") else ""
            m = SCRIPT.search(code)
            if not m:
                continue
            try:
                tokens = shlex.split(m.group(2))
            except ValueError:
                tokens = m.group(2).split()
            sub = tokens[0] if tokens and re.fullmatch(r"[a-z][a-z-]*", tokens[0]) else ""
            used = {t.strip("[]").split("=", 1)[0] for t in tokens if t.strip("[").startswith("--")}
            found.setdefault((m.group(1), sub), set()).update(used)
    return found


SCRIPTS = script_lines()


def test_the_docs_have_script_lines_to_check() -> None:
    assert ("experiments/hammer_diagnosis.py", "checkpoints") in SCRIPTS and len(SCRIPTS) >= 15


_HELP_RUNNER = r"""
import contextlib, io, json, runpy, sys, traceback
from pathlib import Path

repo = Path.cwd().resolve()
dirs = {str((repo / script).parent) for script, _ in json.loads(sys.argv[1])}


def run(argv):
    for name, module in list(sys.modules.items()):  # a sibling helper module (benchmarks/_cli.py) is the script's own
        if str(Path(getattr(module, "__file__", None) or "/").parent) in dirs:
            del sys.modules[name]
    sys.path[:] = [str((repo / argv[0]).parent)] + [p for p in sys.path if p not in dirs]
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.argv = list(argv)
        try:
            runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


results = []
for script, sub in json.loads(sys.argv[1]):
    got = run([script, *([sub] if sub else []), "--help"])
    if got[0] != 0 and sub:  # the script alone when its first word was an argument, not a subcommand
        got = run([script, "--help"])
    results.append(got)
sys.__stdout__.write(json.dumps(results))
"""


@functools.lru_cache(maxsize=1)
def script_helps() -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every documented script call's ``script [sub] --help``, run one after another in one fresh interpreter (each
    in its own was mostly Python importing torch: 36 of them took about 50 s of CI's two cores)."""
    import json

    calls = [c for c in sorted(SCRIPTS) if (REPO / c[0]).is_file()]
    res = subprocess.run([sys.executable, "-c", _HELP_RUNNER, json.dumps(calls)], cwd=REPO, capture_output=True,
                         text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    return {c: subprocess.CompletedProcess([c[0], c[1], "--help"], code, out, err)
            for c, (code, out, err) in zip(calls, json.loads(res.stdout))}


@pytest.mark.parametrize("script,sub", [pytest.param(s, sub, id=f"{s} {sub}".strip()) for s, sub in sorted(SCRIPTS)])
def test_documented_script_calls_use_real_options(script: str, sub: str) -> None:
    """Each documented call's options appear in that script's (or subcommand's) ``--help``."""
    assert (REPO / script).is_file(), f"the docs call {script}, which does not exist"
    res = script_helps()[(script, sub)]
    assert res.returncode == 0, res.stderr[-2000:]
    known = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", res.stdout)) | {"--help"}
    unknown = sorted(SCRIPTS[(script, sub)] - known)
    assert not unknown, f"the docs call `{script} {sub}` with {unknown}, which its --help does not list"


# ------------------------------------------------------------------------------------------ the Python examples
def python_blocks(path: Path) -> list[str]:
    """The fenced ``python`` blocks of a markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```", path.read_bytes().decode("utf-8"), re.S | re.M)


EXAMPLES = [
    # (file, blocks run together as one script: later blocks use earlier blocks' names)
    ("README.md", [0]),  # the model, kernels, compile
    ("README.md", [2]),  # iterative maps
    ("docs/continuum.md", [0, 1, 2, 3]),
]
"""The examples run as written. README's block 1 trains an estimator for 100 epochs (tests/test_files.py runs its
lines with one epoch) and docs/sweeps.md's reads a store a sweep wrote (tests/test_sweep.py covers that API)."""


def test_every_python_example_is_run_or_accounted_for() -> None:
    assert len(python_blocks(REPO / "README.md")) == 3 and len(python_blocks(REPO / "docs" / "continuum.md")) == 4
    assert len(python_blocks(REPO / "docs" / "sweeps.md")) == 1


@pytest.mark.parametrize("name,blocks", [pytest.param(n, b, id=f"{n}{b}") for n, b in EXAMPLES])
def test_python_examples_run_as_written(name: str, blocks: list[int], tmp_path: Path) -> None:
    """Each example runs in a fresh interpreter without error and without a warning from balancedrnn itself (an
    example on a deprecated import path would warn)."""
    import subprocess
    import sys

    code = "\n".join(python_blocks(REPO / name)[i] for i in blocks)
    script = tmp_path / "example.py"
    script.write_text(code)
    res = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:__main__", str(script)], cwd=REPO,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "BALANCEDRNN_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "balancedrnn" not in "".join(line for line in res.stderr.splitlines() if "Warning" in line), res.stderr[-3000:]


def test_the_docs_are_text_that_git_diffs() -> None:
    """Every markdown file is UTF-8 without control characters: one NUL (a bad-input row quoting binary garbage)
    made git treat docs/bad_input.md as binary, so its changes showed as 'Binary files differ'."""
    bad = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_bytes().decode("utf-8")  # raises on a file that is not UTF-8
        found = sorted({f"\\x{ord(c):02x}" for c in text if ord(c) < 32 and c not in "\n\t"})
        if found:
            bad[path.name] = found
    assert not bad, f"control characters in the docs (write them escaped): {bad}"


# ----------------------------------------------------------------------------------- the benchmark scripts' input
BAD_COUNTS = [
    ("benchmarks/rewire.py", ["--rounds", "0"], "--rounds"),
    ("benchmarks/prune.py", ["--epochs", "1"], "--epochs"),
    ("benchmarks/step.py", ["--repeats", "0"], "--repeats"),
    ("benchmarks/sddmm.py", ["--repeats", "0"], "--repeats"),
    ("benchmarks/sparse.py", ["--calls", "--dh", "0"], "--dh"),
    ("benchmarks/rollout.py", ["--episodes", "0"], "--episodes"),
    ("benchmarks/minari_write.py", ["--sizes", "0"], "--sizes"),
    ("benchmarks/sweep.py", ["--trials", "2", "--epochs", "0"], "--epochs"),
]
"""A count below what each benchmark can run with (before: a traceback from inside the run, such as "no median for
empty data" or a division by zero, or a table of nonsense)."""


@pytest.mark.parametrize("script,args,option", [pytest.param(*c, id=c[0]) for c in BAD_COUNTS])
def test_benchmark_scripts_refuse_a_bad_count_in_one_line(script: str, args: list[str], option: str) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr and res.stdout == "", res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{Path(script).name}: error: argument {option}") and "at least" in last, last


def test_every_benchmark_script_is_checked_for_bad_counts() -> None:
    scripts = {p.relative_to(REPO).as_posix() for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_")}
    assert scripts == {c[0] for c in BAD_COUNTS}


# ------------------------------------------------------------------------------------------ examples/sweeps
def _many_workers_in_a_fake_repo(tmp_path: Path, sweep_rc: int) -> tuple[Path, Path]:
    """examples/sweeps/many-workers.sh copied into a repository whose ``balancedrnn`` is a stub that logs its
    arguments and exits with ``sweep_rc`` for ``sweep`` (0 for ``runs``)."""
    repo = tmp_path / "repo"
    (repo / "examples" / "sweeps").mkdir(parents=True)
    (repo / ".venv" / "bin").mkdir(parents=True)
    script = repo / "examples" / "sweeps" / "many-workers.sh"
    script.write_bytes((REPO / "examples" / "sweeps" / "many-workers.sh").read_bytes())
    log = tmp_path / "calls.log"
    stub = repo / ".venv" / "bin" / "balancedrnn"
    stub.write_text(f'#!/usr/bin/env bash\necho "$@" >> {log}\n[ "$1" = sweep ] && exit {sweep_rc}\nexit 0\n')
    stub.chmod(0o755)
    return script, log


def test_many_workers_reads_a_relative_store_from_where_it_is_run(tmp_path: Path) -> None:
    """Before: the script changed to the repository first, so `many-workers.sh my.journal` run from elsewhere put
    the store in the repository, silently, and the commands read another store than the one named."""
    import subprocess

    script, log = _many_workers_in_a_fake_repo(tmp_path, 0)
    here = tmp_path / "elsewhere"
    here.mkdir()
    res = subprocess.run(["bash", str(script), "my.journal"], cwd=here, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 3 and all(f"--storage {here / 'my.journal'}" in c for c in calls), calls
    for store in ("postgresql://u:p@h/db", str(tmp_path / "abs.journal")):  # URLs and absolute paths as given
        log.unlink()
        subprocess.run(["bash", str(script), store], cwd=here, capture_output=True, timeout=60, check=True)
        assert all(f"--storage {store}" in c for c in log.read_text().splitlines())
    log.unlink()  # no argument: the default store inside the repository, as documented
    subprocess.run(["bash", str(script)], cwd=here, capture_output=True, timeout=60, check=True)
    assert all("--storage runs/many-workers/store.journal" in c for c in log.read_text().splitlines())


def test_many_workers_exits_with_the_sweeps_failure(tmp_path: Path) -> None:
    """Before: `wait` without a job returns 0, so a sweep that failed (exit 1: a failed trial, a missing config)
    or refused its input (exit 2) left the script exiting 0."""
    import subprocess

    for rc in (1, 2):
        script, _ = _many_workers_in_a_fake_repo(tmp_path / str(rc), rc)
        res = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert res.returncode == rc, (res.returncode, res.stdout, res.stderr)
    assert not list(tmp_path.rglob("runs-machine-*.log"))  # its logs are removed either way


def test_sweep_benchmark_refuses_a_missing_mnist_dir_in_one_line(tmp_path: Path) -> None:
    """Before: a traceback ending in DataError from inside the warm-up sweep."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "benchmarks/sweep.py", "--mnist-dir", str(tmp_path / "no-such-dir"),
                          "--trials", "2", "--epochs", "1"], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "BALANCEDRNN_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stdout == "", res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("sweep.py: error: MNIST directory") and "no-such-dir" in last, last


def test_sweep_benchmark_reports_no_throughput_of_failed_trials(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep whose trials all failed counts them as done (a final record each), so the benchmark's check
    `done == total` passed and it went on to time failures (before: a throughput and store overhead of trials
    that trained nothing, or a traceback further on). Now one line and exit status 1."""
    import runpy
    import sys

    from balancedrnn.sweep import executor

    def fake_run_sweep(spec, run_dir, progress):  # type: ignore[no-untyped-def]
        n = len(spec.sampler.seeds) * len(spec.sampler.models)
        return executor.SweepResult(total=n, done=n, queued=n, released=0, counts={"failed": n},
                                    final_counts={"failed": n})

    monkeypatch.setattr(executor, "run_sweep", fake_run_sweep)
    monkeypatch.setattr(sys, "argv", ["sweep.py", "--trials", "2", "--epochs", "1"])
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(REPO / "benchmarks" / "sweep.py"), run_name="__main__")
    assert isinstance(e.value.code, str) and e.value.code.startswith("sweep.py: error: with 1 worker(s) 0 of 2"), e.value.code
    assert "Part 1" not in capsys.readouterr().out


BAD_MODELS = [
    ("benchmarks/step.py", ["--config", "lstm"], "a baseline, not a block RNN"),
    ("benchmarks/step.py", ["--config", "bogus"], "unknown model config 'bogus'"),
    ("benchmarks/step.py", ["--budget", "10"], "smallest feasible budget is"),
    ("benchmarks/rollout.py", ["--budget", "nan"], "positive finite number"),
    ("benchmarks/rollout.py", ["--config", "uniform:7"], "--config/--budget"),
]
"""A config or budget the library refuses (before: a SpecError traceback, or a bare AssertionError for a baseline
given to step.py)."""


@pytest.mark.parametrize("script,args,words", [pytest.param(*c, id=f"{c[0]} {' '.join(c[1])}") for c in BAD_MODELS])
def test_benchmark_scripts_refuse_a_bad_config_or_budget_in_one_line(script: str, args: list[str], words: str) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, script, "--threads", "1", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stdout == "", (res.returncode, res.stderr[-2000:])
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{Path(script).name}: error: argument --config") and words in last, last


BAD_DENSITIES = [("benchmarks/sddmm.py", "0"), ("benchmarks/sddmm.py", "nan"), ("benchmarks/sparse.py", "2"),
                 ("benchmarks/sparse.py", "0")]
"""Before: sparse.py --calls at density 2 or 0 and sddmm.py at 0 printed timings (of a clamped or an empty block)
under a header naming the density given; sddmm.py at nan or 2 ended in a traceback."""


@pytest.mark.parametrize("script,value", [pytest.param(*c, id=f"{c[0]} {c[1]}") for c in BAD_DENSITIES])
def test_benchmark_scripts_refuse_a_density_outside_0_1(script: str, value: str) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, script, "--calls", "--density", value, "--dh", "64", "--threads", "1"]
                         if script.endswith("sparse.py") else
                         [sys.executable, script, "--density", value, "--dh", "64", "--steps", "1", "--repeats", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stdout == "", (res.returncode, res.stderr[-2000:])
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{Path(script).name}: error: argument --density") and "(0, 1]" in last, last


@pytest.mark.parametrize("path", sorted((REPO / "examples" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_example_sweep_files_are_valid_as_shipped(path: Path) -> None:
    """Each example sweep file is read, validated and expanded as `balancedrnn sweep FILE` would (before any
    training): the trials its comment promises, every one feasible at its budget."""
    from balancedrnn.core.configs import check_fits
    from balancedrnn.sweep.spec import SweepSpec, load_sweep_file, trial_configs
    from balancedrnn.tasks import get_task

    spec = SweepSpec.from_dict(load_sweep_file(path))
    spec.validate()
    trials = trial_configs(spec)
    s = spec.sampler
    expected = len(s.models) * len(s.seeds) * max(1, len(s.budgets or [])) if s.kind == "grid" else s.n_trials
    assert len(trials) == expected and len({str(sorted(t.items())) for t in trials}) == len(trials)
    for t in trials:
        task = get_task(t["task"])
        check_fits(t["model"], task.dx, task.dy, t["budget"])



@pytest.mark.parametrize("script", ["benchmarks/sddmm.py", "benchmarks/sparse.py"])
def test_benchmark_scripts_refuse_a_block_with_no_entry(script: str) -> None:
    """Before: at dh 4 and density 0.01 (round(0.16) = 0 entries) both printed timings of an empty block under a
    header naming density 0.01 (sparse.py --calls did not even print the count)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, script, *(["--calls"] if script.endswith("sparse.py") else []), "--dh", "4",
                          "--density", "0.01", "--threads", "1"], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stdout == "", (res.returncode, res.stderr[-2000:])
    assert res.stderr.strip().splitlines()[-1] == (f"{Path(script).name}: error: argument --density: 0.01 of a 4 x 4 "
                                                   "block is no entry; raise --density or --dh")


def test_sparse_benchmark_crossover_times_only_blocks_with_the_density_it_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: part 2 timed every density of its grid at any --cross-dh, so at dh 8 the rows of density 0.005 and
    0.01 timed a W_hh with no entry, and several rows timed one block under different densities (0.2 and 0.3 of
    8 x 8 differ, 0.6 and 0.7 of 1 x 1 do not): its table and crossover named densities no block had."""
    import argparse
    import runpy

    import torch

    from balancedrnn import BlockRNN, BlockSpec

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    crossover = runpy.run_path(str(REPO / "benchmarks" / "sparse.py"), run_name="bench_sparse")["crossover"]
    timed: list[tuple[int, float]] = []

    def fake_time(dh: int, density: float, kernel: str, *rest: int) -> float:  # the block, not the clock
        if kernel == "sparse":
            timed.append((dh, density))
        return 1.0

    monkeypatch.setitem(crossover.__globals__, "block_step_time", fake_time)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    rows = crossover(argparse.Namespace(threads=1, cross_dh=[1, 8], batch=2, cross_steps=1, cross_repeats=1))
    table = [(r["dh"], r["density"]) for r in rows if "density" in r]
    assert table == timed and {dh for dh, _ in table} == {1, 8}
    for dh in (1, 8):
        counts = []
        for d, density in table:
            if d != dh:
                continue
            model = BlockRNN(BlockSpec(1, dh, 1, {"hx": 1.0, "hh": density, "hy": 0.0, "yx": 0.0, "yh": 1.0,
                                                  "yy": 0.0}), seed=0)
            entries = int((model.dense_blocks()["hh"] != 0).sum())  # the block really built
            assert entries > 0 and entries / dh**2 == pytest.approx(density), (dh, density, entries)
            counts.append(entries)
        assert len(counts) == len(set(counts)), (dh, counts)
    # the crossover line: no faster at the sparsest block timed is "<= that density"; faster at every block timed
    # is "> the densest" (it printed "1.000", a density never timed, as a measured crossover)
    summary = {r["dh"]: (r["bound"], r["crossover"]) for r in rows if "crossover" in r}
    assert summary == {dh: ("<= ", min(d for h, d in table if h == dh)) for dh in (1, 8)}
    monkeypatch.setitem(crossover.__globals__, "block_step_time", lambda dh, density, kernel, *rest:
                        0.5 if kernel == "sparse" else 1.0)
    rows = crossover(argparse.Namespace(threads=1, cross_dh=[8], batch=2, cross_steps=1, cross_repeats=1))
    assert [(r["bound"], r["crossover"]) for r in rows if "crossover" in r] == [("> ", rows[-2]["density"])]


@pytest.mark.parametrize("script", [c[0] for c in BAD_COUNTS])
def test_benchmark_scripts_refuse_a_bad_on_off_variable_in_one_line(script: str, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """docs/benchmarks.md runs them as `BALANCEDRNN_NATIVE=1|0 .venv/bin/python benchmarks/...`. Before: a value
    the library refuses (`maybe`) was a ValueError traceback from inside the first model built (step.py,
    sparse.py) or after minutes of other work; now argparse's one line, exit 2, before any work."""
    import runpy
    import sys

    monkeypatch.setenv("BALANCEDRNN_NATIVE", "maybe")
    monkeypatch.setattr(sys, "argv", [script])
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    for name in ("_cli", "rewire"):  # the sibling modules as this script imports them
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(REPO / script), run_name="__main__")
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == "", (e.value.code, out[-500:])
    assert err.strip().splitlines()[-1] == (f"{Path(script).name}: error: $BALANCEDRNN_NATIVE must be "
                                            "1/true/yes/on or 0/false/no/off, got 'maybe'"), err[-2000:]
