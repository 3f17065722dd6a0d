"""Follow one contract across all four services (R-AUD-1, R-AUD-3): signed → deliveries →
evaluation → tranches, stitched by aggregate, contract id and causation/correlation ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

SERVICES = ("registry", "services-log", "evaluation", "finance")


def contract_timeline(client: httpx.Client, contract_id: str) -> list[dict[str, Any]]:
    """Every event of the contract in every service, plus events caused by them, by recorded time."""
    events: dict[str, dict[str, Any]] = {}
    for svc in SERVICES:
        after = 0
        while True:
            r = client.get(f"/{svc}/v1/audit/events", params={"contract_id": contract_id, "after": after, "limit": 1000})
            r.raise_for_status()
            body = r.json()
            for e in body["events"]:
                events[str(e["event_id"])] = e
            if not body["events"] or body["next_after"] == after:
                break
            after = body["next_after"]
    # By instant, not by text: integration envelopes write UTC as "Z", private events as "+00:00".
    return sorted(events.values(), key=lambda e: (_instant(e.get("recorded_at")), e["service"], e["position"]))


def _instant(recorded_at: str | None) -> datetime:
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00")) if recorded_at else datetime.min.replace(tzinfo=UTC)


def render(timeline: list[dict[str, Any]]) -> str:
    """A readable report: one line per event, with what caused it."""
    by_id = {str(e["event_id"]): e for e in timeline}
    lines = []
    for e in timeline:
        cause = by_id.get(str(e.get("causation_id")))
        because = f"  ← {cause['service']}.{cause['event_type']}" if cause else ""
        lines.append(
            f"{(e.get('recorded_at') or '')[:19]}  {e['service']:<12} {e['event_type']:<24} "
            f"v{e['version']:<3} by {e.get('actor')}{because}"
        )
    return "\n".join(lines)
