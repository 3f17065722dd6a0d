"""Chinese labels of the API's codes (roles, station kinds, worker roles, triggers, statuses)."""

from __future__ import annotations

ROLES = {
    "purchaser": "县（区）民政局（购买主体）",
    "provider": "社工机构 / 驻站社工（承接主体）",
    "evaluator": "第三方评估机构",
    "finance": "财务",
    "auditor": "审计",
    "province_admin": "省级管理员",
    "worker": "驻站社工（个人账号）",
}
PROVINCE_WIDE = frozenset({"province_admin"})  # tokens with counties ["*"]
NEEDS_PROVIDER = frozenset({"provider", "worker"})
NEEDS_EVALUATOR = frozenset({"evaluator"})

STATION_KINDS = {
    "township_station": "乡镇社工站",
    "street_station": "街道社工站",
    "community_room": "村（社区）社会工作室",
    "family_centre": "家庭综合服务中心",
    "county_hub": "县级社工总站",
}
WORKER_ROLES = {"social_worker": "驻站社工", "supervisor": "督导", "station_head": "站长"}
EDUCATION_LEVELS = ("高中", "中专", "大专", "本科", "硕士", "博士")
QUALIFICATIONS = {"none": "暂无证书", "助理社会工作师": "助理社会工作师", "社会工作师": "社会工作师", "高级社会工作师": "高级社会工作师"}
SERVICE_AREAS = ("社会救助", "养老服务", "儿童关爱保护", "社区治理", "社会事务", "基层社工人才培养", "乡村振兴", "基层司法")
DELIVERY_KINDS = ("个案", "小组", "社区活动", "探访", "帮扶救助", "需求调研", "督导培训", "转介", "资源链接", "政策宣传")
FUNDING_SOURCES = ("社会救助专项经费", "困难群众救助补助资金", "福彩公益金", "一般公共预算", "社会资金")
TRIGGERS = {
    "contract_effective": "协议生效",
    "midterm_passed": "中期评估合格",
    "final_passed": "末期评估合格",
    "annual_passed": "年度评估合格",
}
CONTRACT_STATUS = {"signed": "履约中", "terminated": "已终止", "expired": "已到期"}
TRANCHE_STATUS = {
    "awaiting_trigger": "等待触发",
    "scheduled": "待拨付",
    "paid": "已拨付",
    "withheld": "暂缓拨付",
    "overdue": "已逾期",
}
DELIVERY_STATUS = {"recorded": "已登记", "corrected": "已更正", "voided": "已作废"}
EVALUATION_STAGES = {"process": "过程评估", "midterm": "中期评估", "final": "末期评估", "annual": "年度绩效评估"}


def label(mapping: dict[str, str], code: str | None) -> str:
    if code is None:
        return "—"
    return mapping.get(code, code)
