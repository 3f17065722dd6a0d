"""The reconciliation of one contract (对账): contract amount, scheduled, paid, withheld,
cancelled, spent by category and the balance — each figure with the ids of the events behind it.

Folded from the stored events of the contract's schedule and account, not from their current
state, so every figure can be checked against the event feed (``/v1/audit/events``) and the
envelopes on JetStream (the ids are the envelopes' ``event_id``).
"""

from __future__ import annotations

from typing import Any

from finance.domainmodel import AWAITING, CANCELLED, PAID, SCHEDULED, WITHHELD, TrancheSchedule, account_id
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
    for e in app.history(account_id(schedule.contract_id)):
        eid, kind = str(app.event_id(e)), type(e).__name__
        if kind == "ExpenseBooked":
            line = spent.setdefault(e.category, figure(0, []))
            line["amount_fen"] += e.amount_fen
            line["event_ids"].append(eid)
            spent_events.append(eid)
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
    }
