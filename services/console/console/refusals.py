"""Refusals in Chinese: a sentence per refusal the API explains with structured ``facts``.

A domain refusal's problem+json carries ``facts`` (API.md): for the refusals listed here a
``code`` naming which refusal it is, and the figures behind it (dates, hours, the worker's id …).
:func:`sentence` renders the Chinese sentence with those figures, naming people and stations by
the names the page knows (an id it does not know is left out, never shown). The English
``detail`` stays what integrators read; the console shows it only for a refusal it has no
sentence for, muted and without ids (:func:`without_ids`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from console.formats import cn_date, import_detail_zh, yuan
from console.labels import CONTRACT_STATUS, EVALUATION_STAGES, QUALIFICATIONS, STATION_KINDS, TRIGGERS, WORKER_ROLES

UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def without_ids(text: str) -> str:
    """``text`` with every UUID taken out (and the spaces or quotes it leaves tidied)."""
    text = UUID.sub("", text)
    text = re.sub(r"'\s*'|\"\s*\"", "", text)
    return re.sub(r"\s{2,}", " ", text).replace(" ,", ",").replace(" :", ":").replace(" ;", ";").strip()


def hours(value: Any) -> str:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(d.normalize(), "f")


class Facts:
    """The figures of one refusal, as the sentence shows them: dates in Chinese, names for ids."""

    def __init__(self, facts: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.facts = facts
        self.names = names

    def __getitem__(self, key: str) -> str:
        value = self.facts.get(key)
        return "" if value is None else str(value)

    def date(self, key: str = "date") -> str:
        value = self.facts.get(key)
        return cn_date(str(value)) if value else ""

    def hours(self, key: str) -> str:
        return hours(self.facts.get(key, ""))

    def money(self, key: str) -> str:
        """Fen under ``key`` as 元 (“420,000.00 元”)."""
        value = self.facts.get(key)
        return yuan(int(value)) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else ""

    def listed(self, key: str) -> str:
        return "、".join(str(v) for v in self.facts.get(key) or [])

    def name(self, key: str, otherwise: str) -> str:
        """The name of the id under ``key`` if the page knows it, else ``otherwise`` (never the id)."""
        value = self.facts.get(key)
        return self.names.get(str(value), otherwise) if value else otherwise


def _outside_year(f: Facts) -> str:
    ended = f"，协议已于{f.date('ended_on')}终止" if f["ended_on"] else ""
    return f"服务日期{f.date()}不在协议服务期（{f.date('period_start')}至{f.date('period_end')}）内{ended}"


def _banned(f: Facts) -> str:
    where = "已被其他县（区）" if f.facts.get("elsewhere") else "已被"
    back = "；协议不能倒签到禁入期之前" if f.facts.get("back_dated") else ""
    return (
        f"该机构{where}禁止参与政府购买服务（{f.date('banned_on')}至{f.date('until')}），"
        f"{f.date()}在禁入期内{back}"
    )


def _cap_exceeded(f: Facts) -> str:
    cap = Facts(f.facts.get("cap") or {}, f.names)
    return (
        f"本协议计入{f['budget_year']}年度的{f['source']}为{f.money('share_fen')}，加上全县已承诺的"
        f"{f.money('committed_fen')}，超过上限{cap.money('limit_fen')}（{cap['base_year']}年度{cap['base']}"
        f"{cap.money('base_fen')}的{hours(cap['percent'])}%），超出{f.money('excess_fen')}"
    )


_EXPECTS_ZH = {
    "boolean": "须选择是或否",
    "local_min_wage_fen": "须为0（未设置）或正整数的分",
    "min_education": "须为高中、中专、大专、本科、硕士或博士",
    "supervisor_min_qualification": "须为助理社会工作师、社会工作师或高级社会工作师",
    "decimal": "须为大于0的数，如 1.1",
    "tranche_plan": "须为1至12笔款项，每笔写明序号、1至100的比例和触发条件，比例之和为100%",
    "funding_sources": "须为不重复的资金来源名称列表",
    "funding_caps": "每条须写明资金来源、上限或下限、比例和基数来源",
}


def _policy_value(f: Facts) -> str:
    if f["expects"] == "whole":
        most = f"，不超过{f['maximum']}" if f["maximum"] else ""
        return f"该参数须为正整数{most}"
    return f"该参数{_EXPECTS_ZH.get(f['expects'], '填写有误')}"


def _label(mapping: Mapping[str, str], value: Any) -> str:
    return mapping.get(str(value), str(value)) if value is not None else ""


# registry: providers, stations, workers (R-REG-1/2/3/9), contracts' terms and signing (R-REG-2/4/7,
# R-LOG-2/8, R-FIN-1/2/5), filing (R-REG-5), scope changes (R-REG-6), renewal and termination.
_KINDS_ZH = {"provider": "承接机构", "station": "站点", "worker": "社工", "contract": "服务协议",
             "evaluator organisation": "评估机构", "evaluation": "评估", "scope change": "范围变更申请",
             "county": "县（区）", "rubric": "评估细则", "delivery": "服务记录", "beneficiary": "服务对象"}

REGISTRY: dict[str, Callable[[Facts], str]] = {
    # registry, signing a contract (the purchaser's wizard)
    "rating_below_3a": lambda f: (
        f"县里要求承接主体评级3A以上，该机构{('评级为' + f['rating']) if f['rating'] else '尚未评级'}"
    ),
    "station_understaffed": lambda f: (
        f"{f.name('station_id', '该站点')}在{f.date()}只有{f['staff']}名本机构社工在岗，县里要求不少于{f['minimum']}名"
    ),
    "contract_overlap": lambda f: (
        f"该机构已有协议在{f.date('period_start')}至{f.date('period_end')}覆盖"
        f"{'、'.join(f.names.get(str(s), '') for s in f.facts.get('station_ids') or []).strip('、') or '所选站点'}："
        "重复签约须说明理由，或作为下一年度续签"
    ),
    "unknown_reference": lambda f: (
        "该县（区）尚未在平台登记" if f["kind"] == "county" else f"找不到所选{_KINDS_ZH.get(f['kind'], '记录')}：本县（区）没有这条登记"
    ),
    "uscc_registered": lambda f: (
        f"统一社会信用代码{f['uscc']}已登记为“{f['name']}”，信息不同：如需修改请更新该机构的资料"
    ),
    "uscc_invalid": lambda f: f"统一社会信用代码“{f['uscc']}”无效：须为18位，且校验位正确（GB 32100-2015）",
    "grade_unknown": lambda f: f"以往项目的评估等级“{f['grade']}”无效：须为优秀、良好、合格或不合格",
    "ban_ends_before_start": lambda f: f"禁入期须在开始日（{f.date('banned_on')}）当天或之后结束，不能止于{f.date('until')}",
    "disclosure_kind_unknown": lambda f: "公开信息的类别须为基本信息、资质、年度财务报告或项目记录",
    "report_year_missing": lambda f: "年度财务报告须写明年度",
    "station_kind_unknown": lambda f: f"站点类型须为：{'、'.join(STATION_KINDS.values())}",
    "worker_too_old": lambda f: f"该社工在{f.date()}已满{f['age']}岁，县里规定招聘时年龄不超过{f['limit']}岁",
    "education_unknown": lambda f: f"学历“{f['education']}”无效：须为高中、中专、大专、本科、硕士或博士",
    "education_below": lambda f: f"学历为{f['education']}，县里要求{f['minimum']}以上",
    "qualification_unknown": lambda f: f"职业水平证书“{f['qualification']}”无效：须为助理社会工作师、社会工作师或高级社会工作师",
    "qualification_not_higher": lambda f: (
        f"该社工已持有{_label(QUALIFICATIONS, f['held'])}，新登记的证书须高于此等级"
    ),
    "role_unknown": lambda f: f"岗位须为：{'、'.join(WORKER_ROLES.values())}",
    "already_at_station": lambda f: f"该社工已在{f.name('station_id', '该站点')}任职，无需调动",
    "move_not_after_start": lambda f: f"调动日期须晚于其在现站点的起始日{f.date('start')}，不能是{f.date()}",
    "left_before_start": lambda f: f"离职日期{f.date()}早于其在现站点的起始日{f.date('start')}",
    "worker_left": lambda f: f"该社工已于{f.date()}离职，不能再办理",
    "amount_not_positive": lambda f: "协议金额须大于0",
    # the county's policy (the province's form)
    "policy_version_unknown": lambda f: f"该县（区）没有第{f['version']}版政策",
    "county_not_granted": lambda f: "您的账号无权查看该县（区）",
    "since_outside_window": lambda f: f"起始日期须在{f.date('earliest')}至{f.date('latest')}之间",
    "policy_unknown": lambda f: f"县（区）政策没有这些参数：{f.listed('parameters')}",
    "policy_value_invalid": _policy_value,
    "price_weights_inverted": lambda f: (
        f"价格分值比重下限（{f['minimum']}%）高于上限（{f['maximum']}%）"
    ),
    "funding_source_spelling": lambda f: (
        "资金来源名称不能为空" if f.facts.get("empty") else "资金来源名称含有不可见字符或控制字符，请重新输入"
    ),
    "funding_sum": lambda f: f"各资金来源合计{f.money('sum_fen')}，与协议金额{f.money('amount_fen')}不符，须相等",
    "funding_source_unknown": lambda f: f"资金来源“{f['source']}”不是本县的资金来源（{f.listed('sources')}）",
    "funding_cap_exceeded": _cap_exceeded,
    "period_end_not_after_start": lambda f: f"服务期结束日{f.date('period_end')}须晚于开始日{f.date('period_start')}",
    "period_over_a_year": lambda f: f"协议一年一签：自{f.date('period_start')}起，服务期最迟至{f.date('latest')}",
    "effective_before_signed": lambda f: f"生效日期{f.date()}不能早于签订日期{f.date('signed_on')}",
    "effective_after_period": lambda f: f"生效日期{f.date()}须在服务期内（服务期至{f.date('period_end')}）",
    "year_outside_cycle": lambda f: f"第{f['year']}年不在{f['cycle_years']}年的服务周期内",
    "probation_not_first_year": lambda f: f"只有周期第1年可以设为试用考核期，本协议为第{f['year']}年",
    "no_service_area": lambda f: "请至少选择一个服务领域",
    "service_area_unknown": lambda f: f"“{f['area']}”不是规定的服务领域",
    "service_area_twice": lambda f: "同一服务领域被选了两次",
    "indicator_code_twice": lambda f: "指标代码不能重复",
    "indicator_target_not_positive": lambda f: f"指标“{f['indicator_code']}”的目标值须大于0",
    "monthly_plan_invalid": lambda f: (
        f"指标“{f['indicator_code']}”的进度表有误：月份“{f['month']}”须写作如2026-10，计划数不能为负"
    ),
    "tranche_plan_invalid": lambda f: "拨付计划有误：各笔比例之和须为100%，触发条件须有效",
    "renewal_starts_early": lambda f: f"第{f['year']}年须在上一年度服务期结束（{f.date('previous_end')}）之后开始",
    "cycle_ends": lambda f: f"{f['cycle_years']}年服务周期于{f.date('cycle_end')}结束，服务期不能超出",
    "cycle_longer_than_policy": lambda f: f"服务周期为{f['cycle_years']}年，县里规定的周期为{f['limit']}年",
    "provider_banned": _banned,
    "party_org_required": lambda f: "县里要求承接主体建有党组织，该机构尚未登记党组织",
    "prior_pass_required": lambda f: "县里要求承接主体有以往政府项目评估合格以上的记录，该机构尚无",
    "supervisor_required": lambda f: "县里要求协议指定一名督导",
    "not_a_supervisor": lambda f: f"{f.name('worker_id', '所选人员')}在{f.date()}不是该机构在职的督导",
    "supervisor_underqualified": lambda f: (
        f"督导{f.name('worker_id', '')}在{f.date()}持有{_label(QUALIFICATIONS, f['held'])}，县里要求{f['minimum']}以上"
    ),
    "supervisor_other_provider": lambda f: f"{f.name('worker_id', '所选督导')}不是该机构的员工",
    "no_station": lambda f: "请至少选择一个服务站点",
    "station_twice": lambda f: "同一站点被选了两次",
    "first_year_no_previous": lambda f: "周期第1年没有上一年度协议，请不要填写上一年度协议",
    "renewal_names_previous": lambda f: f"第{f['year']}年为续签：请选择上一年度的协议（须已通过末期或年度评估）",
    "previous_other_provider": lambda f: "上一年度协议属于其他机构：更换承接机构须重新采购",
    "renewal_year_mismatch": lambda f: f"所选协议为第{f['previous_year']}年，本协议应为第{f['year']}年",
    "contract_ended": lambda f: (
        f"该协议{('已于' + f.date() + _label(CONTRACT_STATUS, f['status']).removeprefix('已')) if f['date'] else '已结束'}，不能再办理"
    ),
    "already_filed": lambda f: f"该协议已于{f.date()}备案",
    "filed_before_signed": lambda f: f"备案日期{f.date()}早于签订日期{f.date('signed_on')}：须签订后备案",
    "scope_unchanged": lambda f: f"申请的服务领域与协议现有范围（{f.listed('areas')}）相同",
    "scope_outside_year": lambda f: (
        f"范围变更的生效日期{f.date()}须在协议服务期（{f.date('period_start')}至{f.date('period_end')}）内"
    ),
    "scope_already_decided": lambda f: (
        f"该范围变更申请已{'批准' if f['status'] == 'approved' else '驳回'}，不能再次审批"
    ),
    "renewal_terminated": lambda f: f"该协议已于{f.date()}终止，不能续签",
    "renewal_already_signed": lambda f: f"第{f['year']}年的协议已经签订",
    "cycle_last_year": lambda f: f"第{f['year']}年是{f['cycle_years']}年周期的最后一年：须重新采购",
    "renewal_awaits_evaluation": lambda f: f"续签须等第{f['year']}年的末期或年度评估合格",
    "renewal_evaluation_failed": lambda f: (
        f"本年度{_label(EVALUATION_STAGES, f['stage'])}结果为{f['grade']}：周期结束，须重新采购"
    ),
    "termination_kind_unknown": lambda f: "终止类型须为违约、严重违约、弄虚作假或协商解除",
    "terminated_before_signed": lambda f: f"终止日期{f.date()}早于签订日期{f.date('signed_on')}",
}


_RUBRIC_POLICY_ZH = {"process_visits_per_station": "每个站点每年的不打招呼走访次数",
                     "appeal_working_days": "申诉期（工作日）"}
_STEPS_ZH = {"self_evaluation": "自评报告", "review": "自评审核", "visits": "不打招呼走访", "feedback": "反馈确认"}


def _stage(f: Facts) -> str:
    return _label(EVALUATION_STAGES, f["stage"]) or "评估"


# evaluation: scheduling (R-EVAL-1 windows), independence (R-EVAL-7, R-EVAL-10), the steps of an
# on-site evaluation (R-EVAL-3), surveys (R-EVAL-4), conclusions and appeals (R-EVAL-6, R-EVAL-9).
EVALUATION: dict[str, Callable[[Facts], str]] = {
    "stage_unknown": lambda f: f"评估阶段须为：{'、'.join(EVALUATION_STAGES.values())}",
    "outside_stage_window": lambda f: (
        f"该协议的{_stage(f)}须安排在{f.date('earliest')}至{f.date('latest')}之间，{f.date()}不在其内"
    ),
    "stage_already_scheduled": lambda f: f"该协议已安排过{_stage(f)}",
    "evaluator_not_accredited": lambda f: (
        f"评估机构“{f['name']}”的认定有效期至{f.date('until')}，{f.date()}已不在有效期内"
    ),
    "evaluator_linked": lambda f: f"评估机构“{f['name']}”与该协议的承接机构有关联，须回避（利益冲突）",
    "credential_taken": lambda f: f"评估证号{f['credential_no']}已被本机构其他评估人员登记",
    "member_unknown": lambda f: f"所选人员不是评估机构“{f['name']}”认定的评估人员",
    "credential_expired": lambda f: f"该评估人员的评估证已于{f.date('until')}到期，{f.date()}不能开展评估",
    "other_evaluator": lambda f: "该评估已指派给其他评估机构，只能由该机构办理",
    "evaluation_closed": lambda f: "该评估已出具结论，记录已关闭，不能再修改",
    "no_such_step": lambda f: f"{_stage(f)}没有“{_STEPS_ZH.get(f['step'], f['step'])}”环节",
    "self_evaluation_submitted": lambda f: "自评报告已经提交过",
    "no_self_evaluation": lambda f: "尚未提交自评报告，不能审核",
    "self_evaluation_reviewed": lambda f: "该自评报告已经审核过",
    "review_before_report": lambda f: f"审核日期{f.date()}早于自评报告提交日期{f.date('submitted_on')}",
    "visits_complete": lambda f: (
        f"{f.name('station_id', '该站点')}本年度过程评估的{f['required']}次不打招呼走访已全部完成，不再登记"
    ),
    "visit_outside_year": lambda f: (
        f"走访日期{f.date()}不在协议服务期（{f.date('period_start')}至{f.date('period_end')}）内"
    ),
    "report_before_scheduled": lambda f: f"评估报告日期{f.date()}早于评估安排日期{f.date('scheduled_on')}",
    "fraud_details_missing": lambda f: "认定弄虚作假的，须写明查实的情况",
    "breach_details_missing": lambda f: "认定严重违约的，须写明查实的情况",
    "feedback_before_report": lambda f: "须先出具评估报告，再登记反馈",
    "feedback_recorded": lambda f: "反馈已经登记过",
    "feedback_precedes_report": lambda f: f"反馈日期{f.date()}早于评估报告日期{f.date('concluded_on')}",
    "appeal_not_concluded": lambda f: "评估尚未出具结论，不能申诉",
    "appeal_twice": lambda f: "每次评估只能申诉一次",
    "appeal_passed": lambda f: "只有评估结果为不合格的才能申诉",
    "appeal_window": lambda f: f"申诉期为{f.date('earliest')}至{f.date('latest')}，{f.date()}不在申诉期内",
    "no_appeal": lambda f: "没有待处理的申诉",
    "appeal_decided": lambda f: "该申诉已经处理过",
    "decision_before_appeal": lambda f: f"处理日期{f.date()}早于申诉日期{f.date('appealed_on')}",
    "revised_score_missing": lambda f: "支持申诉的，须填写复核后的分数",
    "revised_score_dismissed": lambda f: "驳回申诉的，维持原评估分数，不填写复核分数",
    "survey_recorded": lambda f: "该评估的满意度调查已经登记过",
    "survey_no_respondents": lambda f: "满意度调查至少须有一份问卷",
    "survey_group_unknown": lambda f: f"调查对象类别“{f['group']}”不在评估细则的调查中（{f.listed('groups')}）",
    "survey_question_unknown": lambda f: f"“{f['group']}”类调查对象没有问题“{f['question']}”",
    "survey_answer_invalid": lambda f: (
        f"“{f['group']}”类问卷的问题“{f['question']}”须回答：{f.listed('answers')}之一"
    ),
    "survey_nothing_scored": lambda f: "所有回答均为“不了解”，调查没有可计分的回答",
    "survey_missing": lambda f: f"评分项“{f['item']}”按满意度调查计分：请先登记满意度调查",
    "rubric_has_no_survey": lambda f: "该评估所用的评估细则没有满意度调查",
    "date_in_future": lambda f: f"{f.date()}尚未到来：只能登记已经发生的事项",
    "contract_terminated": lambda f: f"该协议已于{f.date()}终止，不能再安排评估",
    "rubric_version_unknown": lambda f: f"该评估细则没有第{f['version']}版",
    "no_rubric": lambda f: "本县和省里都还没有发布评估细则：请先发布评估细则",
    "credential_not_shown": lambda f: "实地走访须出示评估证（持证上岗）",
    "item_scored_twice": lambda f: f"评分项“{f['item']}”在本次提交中出现了两次",
    "item_computed": lambda f: (
        f"评分项“{f['item']}”由{'满意度调查' if f['source'] == 'survey' else '指标完成情况'}自动计分，不手工填写"
    ),
    "deduction_not_positive": lambda f: "扣分须为正数",
    "item_unknown": lambda f: f"该评估所用的评估细则中没有评分项“{f['item']}”",
    "score_out_of_range": lambda f: f"评分项“{f['item']}”的得分须在0至{hours(f['max_score'])}分之间，不能是{f['score']}",
    "other_providers_evaluation": lambda f: "这是其他机构的评估，只能查看和办理本机构的评估",
    # the province's (or a county's) rubric: R-EVAL-2 dimensions and items, R-EVAL-4 survey, R-EVAL-6 grades
    "rubric_no_dimension": lambda f: "评估细则至少须有一个评估维度",
    "dimension_twice": lambda f: f"评估维度“{f['dimension']}”出现了两次",
    "dimension_weight": lambda f: f"评估维度“{f['dimension']}”的权重须大于0",
    "dimension_no_item": lambda f: f"评估维度“{f['dimension']}”至少须有一个评分项",
    "item_twice": lambda f: f"评分项“{f['item']}”出现了两次",
    "item_max_score": lambda f: f"评分项“{f['item']}”的满分须大于0",
    "item_source_unknown": lambda f: f"评分项“{f['item']}”的计分方式须为评估人员评分、满意度调查或指标完成情况",
    "survey_item_without_groups": lambda f: f"评分项“{f['item']}”按满意度调查计分，须设置调查对象类别",
    "weights_not_100": lambda f: f"各评估维度权重之和须为100，现为{hours(f['total'])}",
    "survey_group_twice": lambda f: f"调查对象类别“{f['group']}”出现了两次",
    "survey_group_no_question": lambda f: f"调查对象类别“{f['group']}”至少须有一个问题",
    "survey_question_twice": lambda f: f"调查对象类别“{f['group']}”的问题编号不能重复",
    "rubric_policy_unknown": lambda f: f"评估细则没有这些参数：{f.listed('parameters')}",
    "rubric_policy_below_1": lambda f: (
        f"{_RUBRIC_POLICY_ZH.get(f['parameter'], f['parameter'])}至少为1"
    ),
    "thresholds_grades": lambda f: f"等级分数线须且只须设置{f.listed('grades')}三档",
    "thresholds_order": lambda f: (
        f"“{f['grade']}”的分数线{hours(f['value'])}有误：须优秀＞良好＞合格＞0，且不超过100"
    ),
    "items_not_scored": lambda f: f"还有评分项未评分：{f.listed('items')}",
}


def _tranche(f: Facts) -> str:
    return f"第{f['seq']}笔款项" if f["seq"] else "该笔款项"


# finance: tranche payments (R-FIN-7), budgets (R-FIN-1/2), expenses and wages (R-FIN-4/8), the
# official calendar (R-FIN-6), overdue checks (R-FIN-9).
FINANCE: dict[str, Callable[[Facts], str]] = {
    "tranche_unknown": lambda f: f"该协议没有第{f['seq']}笔款项",
    "finding_unknown": lambda f: "该协议没有这项资金问题记录",
    "finding_resolved": lambda f: "该资金问题已经处理过",
    "tranche_paid": lambda f: (
        f"{_tranche(f)}已于{f.date()}拨付{('（凭证号' + f['voucher'] + '）') if f['voucher'] else ''}，不能重复拨付"
    ),
    "tranche_cancelled": lambda f: f"{_tranche(f)}已取消：协议已终止",
    "tranche_withheld": lambda f: (
        f"{_tranche(f)}暂缓拨付：触发条件“{_label(TRIGGERS, f['trigger'])}”的评估未通过（申诉未获支持）"
    ),
    "tranche_awaiting": lambda f: f"{_tranche(f)}须待“{_label(TRIGGERS, f['trigger'])}”后才能拨付",
    "findings_open": lambda f: (
        f"该协议有{f['count']}项资金问题（{f.listed('rules')}）尚未处理，处理后才能拨付"
    ),
    "paid_before_trigger": lambda f: (
        f"拨付日期{f.date()}早于触发条件“{_label(TRIGGERS, f['trigger'])}”达成的日期{f.date('triggered_on')}"
    ),
    "budget_negative": lambda f: "预算金额不能为负数",
    "cap_with_budget": lambda f: "资金使用比例上限/下限属于县里的政策，请在县（区）政策中设置；此处只填写预算金额",
    "category_unknown": lambda f: "支出类别须为人员费用或运营费用",
    "expense_not_positive": lambda f: "支出金额须大于0",
    "voucher_missing": lambda f: "每笔支出须填写原始凭证号（专款专用）",
    "wages_not_personnel": lambda f: "只有人员费用才填写社工和工资月份",
    "wages_worker_missing": lambda f: "请选择领取这笔工资的社工",
    "wages_month_invalid": lambda f: f"工资月份“{f['month']}”须写作如2026-03（2000至2100年）",
    "wages_incomplete": lambda f: (
        f"社工工资须同时填写社工和工资月份：请填写{'工资月份' if f['missing'] == 'month' else '社工'}"
    ),
    "calendar_invalid": lambda f: f"{f['year']}年的节假日安排有误：请按国务院办公厅通知核对放假和调休日期",
    "overdue_future": lambda f: f"逾期检查的日期{f.date()}不能晚于今天",
    "contract_not_in_finance": lambda f: "财务系统中没有该协议（或尚未从登记系统同步）",
    "other_providers_account": lambda f: "机构只能查看和登记本机构协议的账目",
    "expense_unknown": lambda f: "该协议没有这笔支出",
}


# services-log: a delivery (log, correct, void, import), reports, the platform's access refusals.
DELIVERY: dict[str, Callable[[Facts], str]] = {
    "kind_unknown": lambda f: f"服务类型“{f['kind']}”不在规定的服务类型中",
    "area_unknown": lambda f: f"服务领域“{f['area']}”不是规定的服务领域",
    "area_out_of_scope": lambda f: (
        f"{f.date()}协议的服务领域为{'、'.join(f.facts.get('areas') or [])}，“{f['area']}”不在其内，须先批准范围变更"
    ),
    "date_outside_year": _outside_year,
    "date_future": lambda f: f"服务日期{f.date()}尚未到来：服务发生后再登记",
    "station_not_in_contract": lambda f: f"{f.name('station_id', '所选站点')}不是该协议的服务站点",
    "no_hours": lambda f: "请填写直接服务时长或其他时长（合计须大于0小时）",
    "daily_cap": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}将登记{f.hours('hours')}小时（当天已登记{f.hours('already')}小时），"
        f"超过每日{f.hours('cap')}小时的上限"
    ),
    "indicator_unknown": lambda f: f"协议中没有指标“{f['indicator_code']}”",
    "quantity_needs_indicator": lambda f: "填写指标完成量须同时选择所计入的指标",
    "quantity_negative": lambda f: "指标完成量不能为负数",
    "quantity_not_stated": lambda f: (
        f"指标“{f['indicator_code']}”按{f['unit']}计，由本次服务的人次或工时计入，不填写完成量"
    ),
    "no_workers": lambda f: "请选择提供服务的社工",
    "worker_twice": lambda f: "同一名社工被选了两次",
    "worker_unknown": lambda f: "找不到所选社工：本县没有该社工的登记",
    "worker_other_provider": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}受雇于其他机构，不能为本协议登记服务（严禁转包）"
    ),
    "worker_not_at_station": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}不在{f.name('station_id', '该站点')}任职"
    ),
    "already_voided": lambda f: "该记录已作废，不能再更正或作废",
    "reason_missing": lambda f: "请填写更正或作废的原因",
    "no_change": lambda f: "本次更正没有改动任何内容",
    "contract_change": lambda f: "服务记录不能改到其他协议：请作废后重新登记",
    "beneficiary_erased": lambda f: "该服务对象的个人信息已销毁，不能再登记涉及其的服务内容",
    "beneficiary_unknown": lambda f: "找不到所选服务对象：本县或本机构没有该服务对象",
    "contract_unknown": lambda f: "找不到该服务协议（或尚未从登记系统同步）",
    "not_contracted_provider": lambda f: "只有签约的承接机构（及其社工）可以为该协议登记服务",
    "import_no_contract": lambda f: "该行没有协议编号：请填写“协议编号”列，或在导入时选择协议",
    "import_replayed": lambda f: "该行未由使用同一幂等键（Idempotency-Key）的首次导入登记：如需登记，请不带该键重新导入",
    "not_own_delivery": lambda f: "社工个人账号只能登记本人参与的服务：请在服务社工中填写或选择自己",
    "token_without_provider": lambda f: "登录账号没有关联承接机构，请联系管理员",
    "token_without_evaluator": lambda f: "登录账号没有关联评估机构，请联系管理员",
    "token_without_worker": lambda f: "登录账号没有关联社工编号，请联系所属机构或管理员",
    "role_not_allowed": lambda f: "您的角色不能办理此事项",
    "province_token_needed": lambda f: "此事项涉及全省各县（区），须使用省级账号办理",
    "idempotency_key_reused": lambda f: "该表单已经以不同内容提交过：请刷新页面后重新填写提交",
    "event_too_large": lambda f: "提交的内容过多，超出平台可发布的大小：请减少内容后再提交",
    "other_providers_record": lambda f: "这是其他机构的记录，只能办理本机构的事项",
    "already_erased": lambda f: "该服务对象的个人信息已经销毁",
    "erasure_reason_missing": lambda f: "销毁个人信息须说明原因",
    "report_kind_unknown": lambda f: "报告类型须为需求调查报告、中期报告、末期报告、自评报告或月度简报",
    "brief_month_missing": lambda f: "月度简报须写明月份（如2026-10）",
    "report_before_year": lambda f: f"报告提交日期{f.date()}早于协议服务期开始（{f.date('period_start')}）",
    "complaint_before_year": lambda f: f"反映日期{f.date()}早于协议服务期开始（{f.date('period_start')}）",
    "personal_data_role": lambda f: "您的角色不能查看服务对象的个人信息",
    "month_outside_year": lambda f: f"{f['month']}不是该协议服务年度内的月份",
    "quarter_outside_year": lambda f: f"{f['quarter']}不是该协议服务年度内的季度（{f.listed('quarters')}）",
}


# code → the Chinese sentence. Every ``facts.code`` the services the console calls give has one,
# each code in one table only: tests/unit/test_console_refusals.py walks them.
SENTENCES: dict[str, Callable[[Facts], str]] = {**DELIVERY, **REGISTRY, **EVALUATION, **FINANCE}


# A request the API could not read (errors[] of a validation refusal), by the validator's ``type``.
VALIDATION_ZH: dict[str, str] = {
    "missing": "此项必填",
    "decimal_parsing": "请填写数字",
    "decimal_type": "请填写数字",
    "float_parsing": "请填写数字",
    "int_parsing": "请填写整数",
    "int_from_float": "请填写整数",
    "date_parsing": "请填写日期，如 2026-12-05",
    "date_from_datetime_parsing": "请填写日期，如 2026-12-05",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "string_too_short": "此项必填",
    "string_too_long": "内容过长",
}


def sentence(facts: Mapping[str, Any] | None, names: Mapping[str, str] | None = None) -> str | None:
    """The Chinese sentence of a refusal's ``facts``, or None when the console has none for it."""
    if not isinstance(facts, Mapping):
        return None
    render = SENTENCES.get(str(facts.get("code") or ""))
    return render(Facts(facts, names or {})) if render else None


def import_row_zh(error: Mapping[str, Any], names: Mapping[str, str] | None = None) -> tuple[str, str]:
    """An import report's row error as (Chinese, English detail to show muted, or "" when the
    Chinese says it all): its sentence from ``facts``, else a known wording of the detail."""
    detail = str(error.get("detail") or "")
    zh = sentence(error.get("facts"), names)
    if zh:
        return zh, ""
    worded = import_detail_zh(detail)
    if worded != detail:
        return worded, ""
    return "", without_ids(detail)
