"""The unified rubric (统一评估标准, R-EVAL-2): versioned, one per scope (the province or a county).

A version is immutable once published; an evaluation pins the version in force when it was
scheduled, so mid-term and final of one contract are scored against the same standard.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from evaluation.domainmodel.scoring import DEFAULT_THRESHOLDS, check_thresholds
from shared.rules import RuleViolation

NS = uuid.UUID("5d0e8c3a-2f41-5b7e-9a6c-3e1f0d2b4c68")
PROVINCE = "province"


class ItemSource(StrEnum):
    """Who scores a rubric item: the evaluator on site, the R-EVAL-4 survey, or services-log's
    indicator completion."""

    EVALUATOR = "evaluator"
    SURVEY = "survey"
    INDICATORS = "indicators"


ITEM_SOURCES = tuple(s.value for s in ItemSource)

# R-EVAL-2's five dimensions, weights adding up to 100; each item's maximum in points.
DEFAULT_DIMENSIONS: list[dict[str, Any]] = [
    {"code": "setup", "name": "中心基本设置", "weight": Decimal(15), "items": [
        {"code": "setup.venue", "name": "场地与设施", "max_score": Decimal(5)},
        {"code": "setup.staffing", "name": "人员配置", "max_score": Decimal(5)},
        {"code": "setup.disclosure", "name": "标识与信息公示", "max_score": Decimal(5)},
    ]},
    {"code": "operations", "name": "运营管理能力", "weight": Decimal(20), "items": [
        {"code": "operations.rules", "name": "制度建设", "max_score": Decimal(8)},
        {"code": "operations.records", "name": "档案管理", "max_score": Decimal(6)},
        {"code": "operations.supervision", "name": "督导与培训", "max_score": Decimal(6)},
    ]},
    {"code": "project", "name": "项目运作状况", "weight": Decimal(25), "items": [
        {"code": "project.plan", "name": "计划执行", "max_score": Decimal(10)},
        {"code": "project.practice", "name": "服务专业性", "max_score": Decimal(15)},
    ]},
    {"code": "outcomes", "name": "项目成效", "weight": Decimal(25), "items": [
        {"code": "outcomes.indicators", "name": "指标完成情况", "max_score": Decimal(15), "source": "indicators"},
        {"code": "outcomes.satisfaction", "name": "服务对象满意度", "max_score": Decimal(10), "source": "survey"},
    ]},
    {"code": "finance", "name": "经费使用及财务管理", "weight": Decimal(15), "items": [
        {"code": "finance.ringfenced", "name": "专款专用", "max_score": Decimal(8)},
        {"code": "finance.vouchers", "name": "账目与原始凭证", "max_score": Decimal(7)},
    ]},
]

# 公众评议: groups are categories of respondents (各类代表), each with its questions.
DEFAULT_SURVEY: dict[str, Any] = {"groups": [
    {"code": "beneficiaries", "name": "服务对象", "questions": [
        {"code": "overall", "text": "您对社工站提供的服务总体是否满意?"},
        {"code": "attitude", "text": "您对社工的服务态度是否满意?"},
    ]},
    {"code": "community", "name": "村(居)委会及合作方代表", "questions": [
        {"code": "overall", "text": "您对社工站的工作总体是否满意?"},
        {"code": "cooperation", "text": "您对社工站与村(居)委会的协作是否满意?"},
    ]},
]}

# Policy parameters of a rubric version, with their defaults.
DEFAULT_POLICY: dict[str, int] = {
    "process_visits_per_station": 4,  # R-EVAL-1: unannounced visits per centre per year
    "appeal_working_days": 10,  # a failed result may be appealed once within this many working days
}


def rubric_id(scope: str) -> uuid.UUID:
    """One rubric per scope: ``province`` or a 6-digit county code."""
    return uuid.uuid5(NS, f"rubric:{scope}")


def check_rubric(
    dimensions: Sequence[Mapping[str, Any]], survey: Mapping[str, Any], thresholds: Mapping[str, Any], policy: Mapping[str, int]
) -> dict[str, Any]:
    """A rubric version's content, checked and normalised (R-EVAL-2, R-EVAL-4, R-EVAL-6)."""
    if not dimensions:
        raise RuleViolation("a rubric has at least one dimension", rule="R-EVAL-2", field="dimensions", facts={"code": "rubric_no_dimension"})
    dims: list[dict[str, Any]] = []
    dim_codes: set[str] = set()
    item_codes: set[str] = set()
    for i, dim in enumerate(dimensions):
        if dim["code"] in dim_codes:
            raise RuleViolation(f"dimension {dim['code']} appears twice", rule="R-EVAL-2", field=f"dimensions.{i}.code", facts={"code": "dimension_twice", "dimension": dim["code"]})
        dim_codes.add(dim["code"])
        weight = Decimal(str(dim["weight"]))
        if weight <= 0:
            raise RuleViolation("a dimension's weight is positive", rule="R-EVAL-2", field=f"dimensions.{i}.weight", facts={"code": "dimension_weight", "dimension": dim["code"]})
        if not dim["items"]:
            raise RuleViolation("a dimension has at least one item", rule="R-EVAL-2", field=f"dimensions.{i}.items", facts={"code": "dimension_no_item", "dimension": dim["code"]})
        items = []
        for j, item in enumerate(dim["items"]):
            where = f"dimensions.{i}.items.{j}"
            if item["code"] in item_codes:
                raise RuleViolation(f"item {item['code']} appears twice", rule="R-EVAL-2", field=f"{where}.code", facts={"code": "item_twice", "item": item["code"]})
            item_codes.add(item["code"])
            maximum = Decimal(str(item["max_score"]))
            if maximum <= 0:
                raise RuleViolation("an item's maximum score is positive", rule="R-EVAL-2", field=f"{where}.max_score", facts={"code": "item_max_score", "item": item["code"]})
            source = item.get("source") or "evaluator"
            if source not in ITEM_SOURCES:
                raise RuleViolation(f"source must be one of {ITEM_SOURCES}", rule="R-EVAL-2", field=f"{where}.source", facts={"code": "item_source_unknown", "item": item["code"], "source": source})
            if source == "survey" and not survey.get("groups"):
                raise RuleViolation("a survey-scored item needs survey groups", rule="R-EVAL-4", field="survey.groups", facts={"code": "survey_item_without_groups", "item": item["code"]})
            items.append({"code": item["code"], "name": item["name"], "max_score": maximum, "source": source})
        dims.append({"code": dim["code"], "name": dim["name"], "weight": weight, "items": items})
    if sum(d["weight"] for d in dims) != 100:
        raise RuleViolation("dimension weights add up to 100", rule="R-EVAL-2", field="dimensions", facts={"code": "weights_not_100", "total": str(sum(d["weight"] for d in dims))})
    return {
        "dimensions": dims,
        "survey": _check_survey(survey),
        "thresholds": check_thresholds(thresholds),
        "policy": _check_policy(policy),
    }


def _check_survey(survey: Mapping[str, Any]) -> dict[str, Any]:
    groups = []
    seen: set[str] = set()
    for i, group in enumerate(survey.get("groups") or []):
        if group["code"] in seen:
            raise RuleViolation(f"survey group {group['code']} appears twice", rule="R-EVAL-4", field=f"survey.groups.{i}.code", facts={"code": "survey_group_twice", "group": group["code"]})
        seen.add(group["code"])
        questions = [q["code"] for q in group["questions"]]
        if not questions:
            raise RuleViolation("a survey group asks at least one question", rule="R-EVAL-4", field=f"survey.groups.{i}.questions", facts={"code": "survey_group_no_question", "group": group["code"]})
        if len(set(questions)) != len(questions):
            raise RuleViolation("question codes are unique within a group", rule="R-EVAL-4", field=f"survey.groups.{i}.questions", facts={"code": "survey_question_twice", "group": group["code"]})
        groups.append({
            "code": group["code"],
            "name": group["name"],
            "questions": [{"code": q["code"], "text": q["text"]} for q in group["questions"]],
        })
    return {"groups": groups}


def _check_policy(policy: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(policy) - set(DEFAULT_POLICY))
    if unknown:
        raise RuleViolation(f"unknown rubric policy parameters {unknown}", rule="R-EVAL-2", field="policy", facts={"code": "rubric_policy_unknown", "parameters": unknown})
    merged = {**DEFAULT_POLICY, **policy}
    for name, value in merged.items():
        if int(value) < 1:
            raise RuleViolation(f"{name} is at least 1", rule="R-EVAL-1", field=f"policy.{name}", facts={"code": "rubric_policy_below_1", "parameter": name})
    return {k: int(v) for k, v in merged.items()}


@dataclass(frozen=True)
class RubricItem:
    code: str
    name: str
    max_score: Decimal
    source: ItemSource = ItemSource.EVALUATOR

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> RubricItem:
        return cls(item["code"], item["name"], Decimal(item["max_score"]), ItemSource(item.get("source") or "evaluator"))

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "max_score": self.max_score, "source": self.source.value}


@dataclass(frozen=True)
class Dimension:
    code: str
    name: str
    weight: Decimal
    items: tuple[RubricItem, ...]

    @classmethod
    def of(cls, dim: Mapping[str, Any]) -> Dimension:
        return cls(dim["code"], dim["name"], Decimal(dim["weight"]), tuple(RubricItem.of(i) for i in dim["items"]))

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "weight": self.weight, "items": [i.as_dict() for i in self.items]}


@dataclass(frozen=True)
class SurveyQuestion:
    code: str
    text: str


@dataclass(frozen=True)
class SurveyGroup:
    """A category of respondents (各类代表) and the questions asked of it (R-EVAL-4)."""

    code: str
    name: str
    questions: tuple[SurveyQuestion, ...]

    @classmethod
    def of(cls, group: Mapping[str, Any]) -> SurveyGroup:
        return cls(group["code"], group["name"], tuple(SurveyQuestion(q["code"], q["text"]) for q in group["questions"]))

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "questions": [{"code": q.code, "text": q.text} for q in self.questions]}


@dataclass(frozen=True)
class RubricPolicy:
    """A rubric version's policy parameters (recorded as a dict of ints, as :data:`DEFAULT_POLICY`)."""

    process_visits_per_station: int = DEFAULT_POLICY["process_visits_per_station"]
    appeal_working_days: int = DEFAULT_POLICY["appeal_working_days"]

    @classmethod
    def of(cls, policy: Mapping[str, int]) -> RubricPolicy:
        return cls(**{k: int(v) for k, v in {**DEFAULT_POLICY, **policy}.items()})

    def as_dict(self) -> dict[str, int]:
        return {"process_visits_per_station": self.process_visits_per_station, "appeal_working_days": self.appeal_working_days}


@dataclass(frozen=True)
class RubricVersion:
    """One published, immutable version of a rubric (R-EVAL-2)."""

    version: int
    name: str
    dimensions: tuple[Dimension, ...]
    survey_groups: tuple[SurveyGroup, ...]
    thresholds: Mapping[str, Decimal]  # grade (优秀, 良好, 合格) -> the lowest score earning it
    policy: RubricPolicy

    def item(self, code: str) -> RubricItem | None:
        return next((it for dim in self.dimensions for it in dim.items if it.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        """The version as recorded and as the rubric routes answer it."""
        return {
            "version": self.version,
            "name": self.name,
            "dimensions": [d.as_dict() for d in self.dimensions],
            "survey": {"groups": [g.as_dict() for g in self.survey_groups]},
            "thresholds": dict(self.thresholds),
            "policy": self.policy.as_dict(),
        }


class Rubric(Aggregate):
    """The rubric of one scope; each ``VersionPublished`` event is a new, immutable version."""

    @staticmethod
    def create_id(scope: str) -> uuid.UUID:
        return rubric_id(scope)

    @event("Created")
    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.versions: tuple[RubricVersion, ...] = ()  # version n at index n - 1

    @property
    def current_version(self) -> int:
        return len(self.versions)

    def version_content(self, version: int) -> RubricVersion:
        if not 1 <= version <= len(self.versions):
            raise KeyError(version)
        return self.versions[version - 1]

    def publish(self, name: str, content: dict[str, Any]) -> int:
        """Publish the next version (content already checked by :func:`check_rubric`)."""
        self._published(version=self.current_version + 1, name=name, **content)
        return self.current_version

    @event("VersionPublished")
    def _published(
        self,
        version: int,
        name: str,
        dimensions: list[dict[str, Any]],
        survey: dict[str, Any],
        thresholds: dict[str, Decimal],
        policy: dict[str, int],
    ) -> None:
        published = RubricVersion(
            version=version,
            name=name,
            dimensions=tuple(Dimension.of(d) for d in dimensions),
            survey_groups=tuple(SurveyGroup.of(g) for g in survey.get("groups") or []),
            thresholds={str(g): Decimal(v) for g, v in thresholds.items()},
            policy=RubricPolicy.of(policy),
        )
        self.versions = (*self.versions, published)


def survey_groups(content: RubricVersion) -> dict[str, list[str]]:
    """Group code -> its question codes, as :func:`scoring.score_survey` takes them."""
    return {g.code: [q.code for q in g.questions] for g in content.survey_groups}


def item(content: RubricVersion, code: str) -> RubricItem | None:
    return content.item(code)


DEFAULTS: dict[str, Any] = {
    "dimensions": DEFAULT_DIMENSIONS,
    "survey": DEFAULT_SURVEY,
    "thresholds": DEFAULT_THRESHOLDS,
    "policy": DEFAULT_POLICY,
}
