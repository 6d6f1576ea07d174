"""Record the zoo's curve horizon (``epochs_max_``) in a zoo predictor saved before that attribute existed (issue 18).

``ZooPredictor.epochs_max_`` is the longest validation curve the parent network learnt from; ``recommend`` lists an
``--epochs`` past it as outside the zoo. It depends only on the training runs (no randomness), so it can be added to
an older file without refitting: this script re-reads the runs the file's provenance names (its studies in the zoo
store, and the named configs' trials), checks that they are the same number of runs the predictor was fitted on,
and writes the file again with ``epochs_max_`` set and an ``amended`` entry in its provenance. The forest, the parent
network and the library versions it was fitted with are kept byte for byte in the pickle.

Run (the shipped file was amended with this in session 18):
    .venv/bin/python experiments/zoo_amend_horizon.py src/balancedrnn/analysis/zoo-predictor.pkl \
        --storage <cache>/zoo/store.journal --references <cache>/zoo/zoo-recommend.journal
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from _common import one_line_errors

from balancedrnn.analysis import meta, zoopred
from balancedrnn.env import git_revision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--storage", required=True, help="the zoo store the predictor was fitted on")
    ap.add_argument("--references", help="the store of the named configs' trials, if the provenance names one")
    args = ap.parse_args()

    amend(args)


def amend(args: argparse.Namespace) -> None:
    """Check the runs against the predictor, set the horizon and write the file again."""
    payload = meta.read_predictor_file(args.path)
    predictor = payload["predictor"]
    if not isinstance(predictor, zoopred.ZooPredictor):
        raise SystemExit(f"{args.path} is not a zoo predictor")
    provenance = payload["provenance"]
    records, _ = zoopred.load_zoo_records(args.storage, provenance["studies"])
    if "named_config_trials" in provenance:
        if not args.references:
            raise SystemExit("the predictor was fitted with the named configs' trials: pass --references")
        records += zoopred.load_reference_records(args.references)
    data = zoopred.prepare_zoo(records)
    if len(data) != predictor.n_records_ or sorted(data.tasks) != sorted(predictor.tasks_):
        raise SystemExit(f"the stores give {len(data)} runs of {len(data.tasks)} tasks, the predictor was fitted on "
                         f"{predictor.n_records_} runs of {len(predictor.tasks_)}: not the same runs")
    median, horizon = zoopred.curve_lengths(data)
    if median != predictor.epochs_:
        raise SystemExit(f"the runs' median curve length is {median}, the predictor recorded {predictor.epochs_}")
    predictor.epochs_max_ = horizon
    amended = {"epochs_max_": horizon, "from": "the validation curves of the same runs (counts checked)",
               "git_revision": git_revision(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    provenance["amended"] = amended
    predictor.provenance_ = {**predictor.provenance_, "amended": amended}
    meta.write_zoo_payload(payload, args.path)  # the versions it was fitted with stay
    print(f"{args.path}: epochs_max_ = {horizon} ({len(data)} runs, median curve {median} epochs)")


if __name__ == "__main__":
    with one_line_errors():
        main()
