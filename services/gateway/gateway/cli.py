"""``swp``: the platform's command line (dev tokens, the embedded platform, the demo county)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from swp_subscriber.cli import subscribe

from gateway.audit_cli import audit
from gateway.ops_cli import ops
from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

app = typer.Typer(help="Social-work purchase platform (政府购买社会工作服务) command line.", no_args_is_help=True)
app.add_typer(audit, name="audit")
app.add_typer(ops, name="ops")  # parked messages: list, retry, skip (issue 15)
app.command("subscribe")(subscribe)  # the subscriber kit (services/subscriber/)
console = Console(soft_wrap=True)


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="One of the API.md roles")],
    county: Annotated[list[str], typer.Option(help="6-digit county code; repeat for several; * for province-wide")],
    sub: Annotated[str, typer.Option(help="Subject (user id)")] = "dev-user",
    provider_id: Annotated[str | None, typer.Option("--provider-id")] = None,
    evaluator_org: Annotated[str | None, typer.Option("--evaluator-org")] = None,
    worker_id: Annotated[str | None, typer.Option("--worker-id", help="A worker's own registry worker id (role worker)")] = None,
    ttl_hours: Annotated[int, typer.Option(help="Validity in hours")] = 12,
) -> None:
    """Print a development bearer token the locally running platform accepts (same SWP_JWT_SECRET).
    Not in production, where tokens come from the OIDC issuer only (docs/IDENTITY.md)."""
    settings = Settings()
    if settings.environment == "production":
        raise typer.BadParameter("production has no development tokens: get one from the OIDC issuer (docs/IDENTITY.md)")
    typer.echo(
        issue_token(
            settings,
            sub=sub,
            role=role,
            counties=county,
            provider_id=provider_id,
            evaluator_org=evaluator_org,
            worker_id=worker_id,
            ttl_seconds=ttl_hours * 3600,
        )
    )


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (when SWP_NATS_URL is unset)")] = 4333,
) -> None:
    """Run the platform: embedded NATS (unless SWP_NATS_URL is set), the four services and the gateway."""
    import uvicorn

    from gateway.app import create_app
    from shared.infra.natsserver import NatsServer, free_port, port_open

    embedded: NatsServer | None = None
    if not os.environ.get("SWP_NATS_URL"):
        var = Path(os.environ.get("SWP_VAR_DIR", "var"))
        if port_open(nats_port):
            nats_port = free_port()
        embedded = NatsServer(nats_port, var / "nats", log_file=var / "nats-server.log").start()
        os.environ["SWP_NATS_URL"] = embedded.url
        console.print(f"embedded nats-server (JetStream, data in {var / 'nats'}) at {embedded.url}")
    settings = Settings()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning", server_header=False))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            base = f"http://{host}:{port}"
            for svc in ("registry", "services-log", "evaluation", "finance"):
                console.print(f"  {svc:<13} {base}/{svc}/docs   {base}/{svc}/health   {base}/{svc}/asyncapi.json")
            console.print(f"  工作台 (web console) {base}/")
            console.print(f"[bold green]SWP platform ready at {base}[/] (persistence: {settings.persistence}, NATS: {settings.nats_url}) — Ctrl-C stops everything")
        await task

    # uvicorn re-raises the signal that stopped it once it has shut down; for SIGTERM (systemd,
    # `timeout`, docker stop) the default action would end the process before the embedded
    # nats-server is stopped, leaving it running. Raising here lets the `finally` below run.
    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminated)
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        if embedded:
            embedded.stop()
            console.print("embedded nats-server stopped")


@app.command()
def demo(
    base_url: Annotated[str, typer.Option(help="Gateway URL")] = "http://127.0.0.1:8000",
) -> None:
    """Load a small realistic county (640402 原州区) through the public API."""
    from gateway.demo import load_demo

    load_demo(base_url, Settings(), console)


@app.command()
def backup(
    out: Annotated[Path, typer.Option(help="A new directory to write the backup into")],
) -> None:
    """Back up the JetStream stream (its snapshot API), then every service's store (SQLite online
    backup / pg_dump), into OUT with a manifest of hashes and chain heads; the platform keeps running.
    Store and NATS settings come from the SWP_ environment, as for `swp up`. See deploy/README.md."""
    import json

    from gateway.backup import backup as run_backup

    manifest = asyncio.run(run_backup(Settings(), out))
    console.print_json(json.dumps({"stream": manifest["stream"], "services": manifest["services"]}))
    console.print(f"[green]backup written to {out}[/]")


@app.command()
def restore(
    source: Annotated[Path, typer.Option("--from", help="A directory written by `swp backup`")],
) -> None:
    """Restore every store and the stream into a fresh directory / database and a NATS without
    stream SWP (the platform stopped), then set each service's relay to republish exactly what
    the restored stream lacks. Then start the platform (`swp up`)."""
    import json

    from gateway.backup import BackupError
    from gateway.backup import restore as run_restore

    try:
        report = asyncio.run(run_restore(Settings(), source))
    except BackupError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print_json(json.dumps(report))
    for service, entry in report["services"].items():
        if entry.get("missing_writer_key"):
            console.print(
                f"[yellow]{service}: writer key {entry['missing_writer_key']} is not in the key store "
                f"({Settings().key_store_dir(service)}): restore the key store before starting {service}[/]"
            )


def main() -> None:  # console-script entry point
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
