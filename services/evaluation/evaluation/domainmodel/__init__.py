"""evaluation aggregates. Pure domain: standard library, eventsourcing.domain, shared.rules/workdays.

- ``scoring``: the arithmetic of R-EVAL-2/4/5/6 (survey, weighted total, deductions, grades);
- ``rubric``: the unified, versioned rubric (统一评估标准) of the province or of a county;
- ``evaluator``: accredited third-party evaluator organisations and their members (R-EVAL-7);
- ``evaluation``: one evaluation of a contract at one stage, its deadlines and its result;
- ``registry_view``: contracts, providers and outcome figures learnt from other services' events.
"""

from evaluation.domainmodel.evaluation import (
    ON_SITE_STAGES,
    STAGE_NAMES,
    STAGES,
    Evaluation,
    check_timing,
    plan_steps,
    stage_window,
    step_status,
)
from evaluation.domainmodel.evaluator import EvaluatorOrg
from evaluation.domainmodel.registry_view import ContractOutcomes, ContractView, CountyDirectory, ProviderView
from evaluation.domainmodel.rubric import DEFAULTS, PROVINCE, Rubric, check_rubric, rubric_id, survey_groups
from evaluation.domainmodel.scoring import (
    ANSWERS,
    DEFAULT_THRESHOLDS,
    GRADES,
    grade_for,
    indicator_completion,
    rounded,
    score_sheet,
    score_survey,
)

__all__ = [
    "ANSWERS",
    "DEFAULTS",
    "DEFAULT_THRESHOLDS",
    "GRADES",
    "ON_SITE_STAGES",
    "PROVINCE",
    "STAGES",
    "STAGE_NAMES",
    "ContractOutcomes",
    "ContractView",
    "CountyDirectory",
    "Evaluation",
    "EvaluatorOrg",
    "ProviderView",
    "Rubric",
    "check_rubric",
    "check_timing",
    "grade_for",
    "indicator_completion",
    "plan_steps",
    "rounded",
    "rubric_id",
    "score_sheet",
    "score_survey",
    "stage_window",
    "step_status",
    "survey_groups",
]
