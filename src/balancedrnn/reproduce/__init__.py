"""Reproducing the paper: plans (YAML files in ``plans/``) that run sweeps, test claims and recommend
(``plan``), and the report a reproduction writes (``report``).
"""

from .plan import SCALES, Plan, PlanError, load_plan, plan_names, run_plan, sweep_specs
from .report import Reproduction, write_report

__all__ = ["SCALES", "Plan", "PlanError", "Reproduction", "load_plan", "plan_names", "run_plan", "sweep_specs",
           "write_report"]
