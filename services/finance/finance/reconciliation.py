"""The reconciliation of one contract (对账): contract amount, scheduled, paid, withheld,
cancelled, spent by category and the balance — each figure with the ids of the events behind it.

Folded from the stored events of the contract's schedule and account, not from their current
state, so every figure can be checked against the event feed (``/v1/audit/events``) and the
envelopes on JetStream (the ids are the envelopes' ``event_id``).
"""

from __future__ import annotations

from typing import Any

from finance.domainmodel import (
    AWAITING,
    CANCELLED,
    OPERATIONS,
    PAID,
    PERSONNEL,
    SCHEDULED,
    WITHHELD,
    TrancheSchedule,
    account_id,
    minimum_wage_fen,
)
from finance.domainmodel.tranches import yuan
from shared.clock import china_today
from shared.infra.store import SwpApplication

# Which schedule events move a tranche to which status (the others only add to its trail).
STATUS_OF = {
    "TrancheScheduled": SCHEDULED,
    "TrancheWithheld": WITHHELD,
    "TrancheCancelled": CANCELLED,
    "TranchePaid": PAID,
}


def figure(amount_fen: int, event_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {"amount_fen": amount_fen, "event_ids": event_ids, **extra}


def reconcile(app: SwpApplication, schedule: TrancheSchedule) -> dict[str, Any]:
    tranches: dict[int, dict[str, Any]] = {}
    contract_events: list[str] = []
    paid_events: list[str] = []
    findings: dict[str, dict[str, Any]] = {}
    for e in app.history(schedule.id):
        eid, kind = str(app.event_id(e)), type(e).__name__
        if kind == "Planned":
            contract_events.append(eid)
            for t in e.tranches:
                tranches[int(t["seq"])] = {"amount_fen": int(t["amount_fen"]), "status": AWAITING, "event_ids": [eid]}
        elif kind in STATUS_OF or kind in ("DueDateRecomputed", "TrancheOverdue"):
            t = tranches[int(e.seq)]
            t["event_ids"].append(eid)
            t["status"] = STATUS_OF.get(kind, t["status"])
            if kind == "TranchePaid":
                paid_events.append(eid)
        elif kind == "FundingRuleBreached":
            findings[e.finding_id] = {"finding_id": e.finding_id, "rule": e.rule, "status": "open", "event_ids": [eid]}
        elif kind == "FindingResolved":
            findings[e.finding_id]["status"] = "resolved"
            findings[e.finding_id]["event_ids"].append(eid)

    def by_status(status: str) -> dict[str, Any]:
        chosen = {seq: t for seq, t in sorted(tranches.items()) if t["status"] == status}
        return figure(
            sum(t["amount_fen"] for t in chosen.values()),
            [i for t in chosen.values() for i in t["event_ids"]],
            tranches=list(chosen),
        )

    spent: dict[str, dict[str, Any]] = {}
    flag_events: list[str] = []
    spent_events: list[str] = []
    wages: dict[tuple[str, str], dict[str, Any]] = {}
    for e in app.history(account_id(schedule.contract_id)):
        eid, kind = str(app.event_id(e)), type(e).__name__
        if kind == "ExpenseBooked":
            line = spent.setdefault(e.category, figure(0, []))
            line["amount_fen"] += e.amount_fen
            line["event_ids"].append(eid)
            spent_events.append(eid)
            worker, month = getattr(e, "worker_id", None), getattr(e, "month", None)
            if worker is not None and month is not None:
                paid_wage = wages.setdefault((worker, month), figure(0, []))
                paid_wage["amount_fen"] += e.amount_fen
                paid_wage["event_ids"].append(eid)
        elif kind == "ExpenseFlagged":
            flag_events.append(eid)

    paid = by_status(PAID)
    spent_total = sum(line["amount_fen"] for line in spent.values())
    return {
        "contract_id": schedule.contract_id,
        "contract_amount": figure(schedule.amount_fen, contract_events),
        "awaiting_trigger": by_status(AWAITING),
        "scheduled": by_status(SCHEDULED),
        "paid": figure(paid["amount_fen"], paid_events, tranches=paid["tranches"]),
        "withheld": by_status(WITHHELD),
        "cancelled": by_status(CANCELLED),
        "spent": figure(spent_total, spent_events, by_category=dict(sorted(spent.items()))),
        # Funds received and not yet spent (截留 would show as a balance kept; 挤占 as a negative one).
        "balance": figure(paid["amount_fen"] - spent_total, paid_events + spent_events),
        "funding_findings": list(findings.values()),
        "expense_findings": {"count": len(flag_events), "event_ids": flag_events},
        "cost_structure": cost_structure(schedule, spent, wages),
    }


def cost_structure(
    schedule: TrancheSchedule, spent: dict[str, dict[str, Any]], wages: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, Any]:
    """R-FIN-4 under the policy the contract was signed under: personnel ≥ its floor of the contract
    amount, quality assurance and operations ≤ its ceiling, each worker's monthly wages ≥ the local
    minimum wage × the multiplier. The personnel floor is judged once the service year is over (or
    the contract ended): before that, spending is still under way and only the gap is shown."""
    policy, amount = schedule.policy, schedule.amount_fen
    floor_percent, ceiling_percent = int(policy["personnel_min_percent"]), int(policy["operations_max_percent"])
    personnel = spent.get(PERSONNEL, {}).get("amount_fen", 0)
    operations = spent.get(OPERATIONS, {}).get("amount_fen", 0)
    floor_fen = -(-amount * floor_percent // 100)  # rounded up: the floor is a minimum
    ceiling_fen = amount * ceiling_percent // 100
    least_wage = minimum_wage_fen(policy)
    below = [
        {"worker_id": worker, "month": month, "paid_fen": w["amount_fen"], "minimum_fen": least_wage,
         "missing_fen": least_wage - w["amount_fen"], "event_ids": w["event_ids"]}
        for (worker, month), w in sorted(wages.items())
        if least_wage is not None and w["amount_fen"] < least_wage
    ]
    ended = schedule.terminated_on is not None or schedule.period_end < china_today()
    findings = []
    if ended and personnel < floor_fen:
        findings.append({
            "rule": "R-FIN-4", "kind": "personnel_below_floor", "missing_fen": floor_fen - personnel,
            "detail": f"personnel spending (人员费用) {yuan(personnel)} is below {floor_percent}% of the contract amount "
                      f"{yuan(amount)} ({yuan(floor_fen)}): {yuan(floor_fen - personnel)} missing",
        })
    if operations > ceiling_fen:
        findings.append({
            "rule": "R-FIN-4", "kind": "operations_above_ceiling", "missing_fen": operations - ceiling_fen,
            "detail": f"quality assurance and operations (服务质量保障、运营管理费) {yuan(operations)} exceed {ceiling_percent}% "
                      f"of the contract amount ({yuan(ceiling_fen)}) by {yuan(operations - ceiling_fen)}",
        })
    findings += [
        {"rule": "R-FIN-4", "kind": "below_minimum_wage", "missing_fen": b["missing_fen"],
         "detail": f"worker {b['worker_id']} was paid {yuan(b['paid_fen'])} for {b['month']}, below {yuan(least_wage or 0)} "
                   f"(最低工资标准 × {policy['min_wage_multiplier']}): {yuan(b['missing_fen'])} missing"}
        for b in below
    ]
    return {
        "personnel_fen": personnel, "personnel_floor_percent": floor_percent, "personnel_floor_fen": floor_fen,
        "personnel_missing_fen": max(0, floor_fen - personnel), "operations_fen": operations,
        "operations_ceiling_percent": ceiling_percent, "operations_ceiling_fen": ceiling_fen,
        "minimum_wage_fen": least_wage, "wages_below_minimum": below, "year_over": ended, "findings": findings,
    }
