"""Progress bars (balancedrnn.progress)."""

import pytest

from balancedrnn.progress import progress_bar


@pytest.mark.parametrize("terminal", [True, False])
def test_descriptions_and_infos_are_shown_as_written(terminal, monkeypatch, capsys):
    """In a terminal the live bar read its texts as Rich markup: a sweep named ``exp[v2]`` showed as ``sweep exp``,
    and one named ``x[/b]`` stopped the command with a MarkupError traceback. Logs print one line per event."""
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # Rich draws the live bar as on a terminal
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
        monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    with progress_bar(2, "sweep exp[v2] x[/b]") as advance:
        advance(1, info="dense seed 0 [v2]: ok")
        advance(1, info="[/tmp] done")
    err = capsys.readouterr().err
    shown = ["sweep exp[v2] x[/b]", "[/tmp] done"] + ([] if terminal else ["dense seed 0 [v2]: ok"])  # a live bar
    for text in shown:                                                                      # draws the last info
        assert text in err, err


def test_a_disabled_bar_prints_nothing(capsys):
    with progress_bar(3, "quiet", enabled=False) as advance:
        advance(3, info="x")
    assert capsys.readouterr() == ("", "")
