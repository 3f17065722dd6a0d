"""``swp ops``: the operator's commands (issue 15, item 4): parked messages of each service.

    swp ops parked [--service S]                          list (every service when none is named)
    swp ops parked retry ID --service S --reason "…"      run the reaction again / publish again
    swp ops parked skip ID --service S --reason "…"       give up on it, with the reason

Calls ``/<svc>/v1/ops/parked`` of the gateway with a province-wide province_admin token from
``SWP_TOKEN`` (development mints one with the local secret). Each retry or skip is recorded by the
service as an event naming the token's subject and the reason.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

SERVICES = ("registry", "services-log", "evaluation", "finance")
ops = typer.Typer(help="Operations: messages a service parked (the outbox's, and reactions that keep failing).",
                  no_args_is_help=True)
console = Console(soft_wrap=True)


def _console() -> Console:  # made per call: it reads the terminal's width (COLUMNS) then
    global console
    console = Console(soft_wrap=True)
    return console


def _token() -> str:
    return os.environ.get("SWP_TOKEN") or issue_token(Settings(), sub="swp-ops-cli", role=Role.PROVINCE_ADMIN, counties=["*"])


def _fail(r: httpx.Response) -> None:
    try:
        problem = r.json()
        text = f"{problem.get('title', r.status_code)}: {problem.get('detail', '')} {problem.get('rule') or ''}".strip()
    except ValueError:
        text = r.text[:500]
    console.print(f"[red]{r.status_code}[/red] {text}")
    raise typer.Exit(1)


def _list(client: httpx.Client, services: list[str], limit: int) -> None:
    table = Table(title="Parked messages (停滞消息)")
    for column in ("service", "id", "status", "event"):
        table.add_column(column, no_wrap=True)
    table.add_column("aggregate", no_wrap=True, max_width=36)
    table.add_column("error", max_width=60)
    table.add_column("attempts", no_wrap=True)
    total = 0
    for service in services:
        offset = 0
        while True:
            r = client.get(f"/{service}/v1/ops/parked", params={"offset": offset, "limit": limit})
            if r.status_code != 200:
                _fail(r)
            page = r.json()
            for item in page["items"]:
                error = item.get("error") or item.get("error_kind") or ""
                table.add_row(service, item["id"], item["status"], item["event_type"], item["aggregate_id"],
                              error[:120], str(item.get("attempts") or ""))
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                total += page["total"]
                break
    if total:
        console.print(table)
    console.print(f"{total} parked or held")


@ops.command("parked")
def parked(
    action: Annotated[str, typer.Argument(help="list, retry or skip")] = "list",
    parked_id: Annotated[str | None, typer.Argument(help="With retry or skip: the id the list shows")] = None,
    service: Annotated[str | None, typer.Option(help=f"One of {', '.join(SERVICES)} (list: all when omitted)")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required for retry and skip; recorded)")] = None,
    base_url: Annotated[str, typer.Option(help="Gateway URL")] = "http://127.0.0.1:8000",
    limit: Annotated[int, typer.Option(help="Page size of each request")] = 100,
) -> None:
    """List parked messages, or retry or skip one (province-wide province_admin token in SWP_TOKEN)."""
    _console()
    if service is not None and service not in SERVICES:
        console.print(f"[red]unknown service {service}[/red]: one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    with httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {_token()}"}) as client:
        if action == "list":
            _list(client, [service] if service else list(SERVICES), limit)
            return
        if action not in ("retry", "skip"):
            console.print(f"[red]unknown action {action}[/red]: list, retry or skip")
            raise typer.Exit(2)
        if not parked_id or not service or not reason:
            console.print(f"[red]{action} needs the id, --service and --reason[/red]")
            raise typer.Exit(2)
        r = client.post(f"/{service}/v1/ops/parked/{parked_id}/{action}", json={"reason": reason})
        if r.status_code != 200:
            _fail(r)
        result: dict[str, Any] = r.json()
        colour = "red" if result["outcome"] == "failed" else "green"
        console.print(f"{result['id']}: [{colour}]{result['outcome']}[/{colour}]"
                      + (f" ({result.get('error_kind')}: {result.get('error')})" if result["outcome"] == "failed" else ""))
        for released in result.get("released", []):
            console.print(f"  released {released}")
        if result.get("parked_again"):
            console.print(f"  [red]parked again[/red] {result['parked_again']}")
        if result["outcome"] == "failed":
            raise typer.Exit(1)
