"""Records ``data/services_log_untyped.json``: a services-log store written while the ledger held its state as
dicts (before typed state, #16 item 1), for ``test_services_log_old_ledger.py``; and
``data/services_log_untyped_views.json``: what the routes answered from it, as the bytes sent.

Run from the repository root with the code of the commit named in that test (the untyped aggregates):
``.venv/bin/python tests/integration/record_services_log_untyped.py``. It drives the composed service
without HTTP and without a clock of its own (the contract year 2025 is over, so "today" never enters a
recorded fact): registry's facts as the feed records them (a county policy, a contract with a scope
change that expired, three workers, one moved and one gone, station rosters), 120 deliveries logged one
by one (so the log is snapshotted at version 200 by the untyped code), corrections, voidings, a bulk
import with a refused row, reports and scope complaints."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.encoders import jsonable_encoder
from services_log.application import ServicesLogApplication
from services_log.commands import (
    CorrectDelivery,
    FileComplaint,
    ImportDeliveries,
    LogDelivery,
    SubmitReport,
    VoidDelivery,
)
from services_log.composition import ServicesLog, compose
from services_log.domainmodel import Contract, CountyPolicy, StationRoster, Worker
from services_log.sheets import parse_upload

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.store import CommandContext

COUNTY = "640402"
CONTRACT = "k-log-old"
DATA = Path(__file__).parent / "data"
OUT = DATA / "services_log_untyped.json"
VIEWS = DATA / "services_log_untyped_views.json"
PLAN = {f"2025-{m:02d}": 40 for m in range(1, 13)}
INDICATORS = [
    {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 480, "monthly_plan": PLAN},
    {"code": "hours", "name": "直接服务时长", "unit": "小时", "target": 300},
    {"code": "groups", "name": "小组活动", "unit": "场", "target": 12},
]
PURCHASER = CountyScope(COUNTY, Principal(sub="purchaser-1", role=Role.PURCHASER, counties=frozenset({COUNTY})))
CSV = (
    "协议编号,站点编号,服务社工编号,服务类型,服务领域,服务日期,直接服务时长,其他专业时长,服务人次,指标编号,服务对象编号,服务内容\n"
    f"{CONTRACT},s-1,w-1,帮扶救助,社会救助,2025-11-03,2,0.5,12,assist,,入户探访\n"
    f"{CONTRACT},s-2,w-2,小组,养老服务,2025-11-04,3,1,8,groups,,老年小组\n"
    f"{CONTRACT},s-1,w-1,社区活动,儿童关爱保护,2025-11-05,4,0,30,,,暑期活动\n"
    f"{CONTRACT},s-1,w-1,探访,社会救助,2025-11-06,,0,3,,,缺时长\n"
    f"{CONTRACT},s-1,w-1,走访,为老,2025-11-07,1.5,0.25,2,hours,,回访\n"
).encode()


def record_setting(app: ServicesLogApplication) -> None:
    """Registry's facts as the registry feed records them: a policy, the contract, workers, rosters."""
    policy = CountyPolicy(county=COUNTY, policy={"max_daily_hours": 10, "annual_hours_per_staff": 1960}, version=2)
    contract = Contract(
        contract_id=CONTRACT, county=COUNTY, provider_id="p-1", station_ids=["s-1", "s-2"],
        period_start=date(2025, 1, 1), period_end=date(2025, 12, 31), service_areas=["社会救助", "养老服务"],
        indicators=INDICATORS, policy={"max_daily_hours": 10},
    )
    contract.change_scope(service_areas=["社会救助", "养老服务", "儿童关爱保护"], effective_on=date(2025, 6, 1))
    w1 = Worker(worker_id="w-1", county=COUNTY, provider_id="p-1", station_id="s-1", role="社工", hired_on=date(2024, 6, 1))
    w2 = Worker(worker_id="w-2", county=COUNTY, provider_id="p-1", station_id="s-1", role="助理社工", hired_on=date(2025, 1, 1))
    w2.move(provider_id="p-1", to_station_id="s-2", moved_on=date(2025, 7, 1))
    w3 = Worker(worker_id="w-3", county=COUNTY, provider_id="p-1", station_id="s-2", role="社工", hired_on=date(2025, 2, 1))
    w3.leave(left_on=date(2025, 10, 31))
    w3.rehire(provider_id="p-1", station_id="s-1", role="督导", hired_on=date(2025, 11, 15))
    s1, s2 = StationRoster(station_id="s-1", county=COUNTY), StationRoster(station_id="s-2", county=COUNTY)
    for roster, ids in ((s1, ("w-1", "w-2", "w-3")), (s2, ("w-2", "w-3"))):
        for worker_id in ids:
            roster.assign(worker_id)
    app.save(policy, contract, w1, w2, w3, s1, s2)


def delivery(n: int) -> LogDelivery:
    """The ``n``-th of the deliveries logged one by one: every kind of counting, two workers now and then."""
    day = date(2025, 1, 2) + timedelta(days=n * 3)
    station, workers = ("s-1", ("w-1",)) if n % 3 else ("s-1", ("w-1", "w-2") if day < date(2025, 7, 1) else ("w-1",))
    if n % 5 == 4 and date(2025, 2, 1) <= day <= date(2025, 10, 31):
        station, workers = "s-2", ("w-3",)
    indicator, quantity = (None, None)
    if n % 4 == 0:
        indicator = "assist"
    elif n % 4 == 1:
        indicator = "hours"
    elif n % 4 == 2:
        indicator, quantity = "groups", (n % 3) or None
    return LogDelivery(
        county=COUNTY, contract_id=CONTRACT, station_id=station, worker_ids=workers,
        kind=("帮扶救助", "小组", "探访", "社区活动")[n % 4], area="社会救助" if n % 2 else "养老服务",
        date=day, hours_direct=Decimal("1.5") + Decimal(n % 3), hours_other=Decimal("0.25") * (n % 2),
        person_times=1 + n % 7, indicator_code=indicator, indicator_quantity=quantity,
        content=f"服务记录 {n}",
    )


def record_history(svc: ServicesLog) -> list[str]:
    """The deliveries, corrections, voidings, the import, reports and complaints, as commands of the
    running code. Returns the ids of the deliveries logged one by one, in order."""
    ids = [str(svc.commands.log_delivery(delivery(n)).id) for n in range(120)]
    svc.commands.correct_delivery(CorrectDelivery(county=COUNTY, delivery_id=ids[3], reason="人次录错", changes={"person_times": 9}))
    svc.commands.correct_delivery(CorrectDelivery(
        county=COUNTY, delivery_id=ids[10], reason="日期与类型录错",
        changes={"date": date(2025, 2, 14), "kind": "需求调研", "indicator_code": "assist", "indicator_quantity": None},
    ))
    svc.commands.correct_delivery(CorrectDelivery(
        county=COUNTY, delivery_id=ids[41], reason="换人", changes={"worker_ids": ["w-2"]},
    ))
    svc.commands.void_delivery(VoidDelivery(county=COUNTY, delivery_id=ids[7], reason="重复录入"))
    svc.commands.void_delivery(VoidDelivery(county=COUNTY, delivery_id=ids[10], reason="并非本协议服务"))
    svc.commands.import_deliveries(ImportDeliveries(
        county=COUNTY, file_hmac="h", rows=parse_upload("deliveries.csv", "text/csv", CSV), source="import:deliveries.csv",
    ))
    for n, (kind, period, on) in enumerate((
        ("needs_survey", None, date(2025, 1, 20)), ("monthly_brief", "2025-03", date(2025, 4, 3)),
        ("midterm", "2025-06", date(2025, 7, 2)), ("monthly_brief", "2025-11", date(2025, 12, 2)),
    )):
        svc.commands.submit_report(SubmitReport(
            county=COUNTY, contract_id=CONTRACT, kind=kind, period=period, submitted_on=on, title=f"报告 {n}",
            summary=None if n % 2 else f"摘要 {n}", report_id=f"r-{n}",
        ))
    svc.commands.file_complaint(FileComplaint(
        county=COUNTY, contract_id=CONTRACT, township="惠农镇", station_id="s-1", filed_on=date(2025, 5, 6),
        description="镇里摊派迎检任务", complaint_id="c-1",
    ))
    svc.commands.file_complaint(FileComplaint(
        county=COUNTY, contract_id=CONTRACT, township="红果子镇", station_id=None, filed_on=date(2025, 9, 9),
        description="抽调社工做普查", complaint_id="c-2",
    ))
    return ids


def answers(svc: ServicesLog) -> dict[str, str]:
    """What the routes answer from the store, as the JSON sent (the routes' own functions, with a purchaser's scope)."""
    from services_log.api import contracts, deliveries
    from services_log.reads import ContractDeliveries

    def sent(value: Any) -> str:
        return json.dumps(jsonable_encoder(value), ensure_ascii=False)

    views = {"contract": sent(contracts.get_contract(COUNTY, CONTRACT, PURCHASER, svc))}
    for worker_id in ("w-1", "w-2", "w-3"):
        views[f"worker:{worker_id}"] = sent(contracts.get_worker(COUNTY, worker_id, PURCHASER, svc))
    page = svc.reads.ask(ContractDeliveries(county=COUNTY, contract_id=CONTRACT, offset=0, limit=500), PURCHASER)
    views["deliveries"] = sent(
        contracts.DeliveryPage(total=page.total, offset=page.offset, items=[deliveries.DeliveryOut(**d) for d in page.items])
    )
    views["delivery"] = sent(deliveries.get_delivery(COUNTY, page.items[10]["delivery_id"], PURCHASER, svc))
    for as_of in (date(2025, 3, 15), date(2025, 6, 30), date(2025, 11, 5), None):
        views[f"progress:{as_of}"] = sent(contracts.progress(COUNTY, CONTRACT, PURCHASER, svc, as_of=as_of))
    for month in range(1, 13):
        views[f"brief:2025-{month:02d}"] = sent(contracts.monthly_brief(COUNTY, CONTRACT, f"2025-{month:02d}", PURCHASER, svc))
    for q in range(1, 5):
        views[f"quarterly:2025-Q{q}"] = sent(contracts.quarterly_report(COUNTY, CONTRACT, f"2025-Q{q}", PURCHASER, svc))
    views["reports"] = sent(contracts.list_reports(COUNTY, CONTRACT, PURCHASER, svc))
    views["complaints"] = sent(contracts.list_complaints(COUNTY, CONTRACT, PURCHASER, svc))
    return views


def record() -> tuple[list[dict[str, object]], dict[str, str]]:
    app = ServicesLogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    svc = compose(app)
    with app.command(CommandContext(county=COUNTY, actor="recorder")):
        record_setting(app)
        record_history(svc)
    recorded = [
        {"originator_id": str(n.originator_id), "originator_version": n.originator_version, "topic": n.topic, "state": n.state.decode()}
        for n in app.recorder.select_notifications(1, 10_000)
    ]
    snapshots = app.snapshots
    assert snapshots is not None
    taken = [
        {"originator_id": str(s.originator_id), "originator_version": s.originator_version, "topic": s.topic, "state": s.state.decode()}
        for originator in dict.fromkeys(r["originator_id"] for r in recorded)
        for s in snapshots.recorder.select_events(uuid.UUID(originator))
    ]
    shown = answers(svc)
    app.close()
    return [*recorded, *({**s, "snapshot": True} for s in taken)], shown


if __name__ == "__main__":
    records, shown = record()
    OUT.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n")
    VIEWS.write_text(json.dumps(shown, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(records)} records -> {OUT}", file=sys.stderr)
