#!/usr/bin/env python3
"""Container health probe for an SWP service (standard library only; the image installs it as
``swp-healthcheck``). Exit status 0 = healthy, 1 = not.

    swp-healthcheck http://127.0.0.1:8101/health           # ready: store AND NATS reachable (HTTP 200)
    swp-healthcheck --store http://127.0.0.1:8101/health   # serving: the event store answers
    swp-healthcheck --alive http://127.0.0.1:8101/health   # alive: the process answers HTTP at all

Why three: the event store is the source of truth. With NATS down a service still accepts
commands (events wait in its outbox) and serves its own reads, so a Kubernetes readiness probe
uses ``--store`` and a liveness probe ``--alive`` (restarting a service cures neither a NATS
nor a PostgreSQL outage). Compose orders start-up on the full check; monitoring alerts on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request


def probe(url: str, mode: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a local URL given by the operator
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:  # 503 still carries the body that says what is missing
        status, raw = error.code, error.read()
    except (OSError, ValueError) as error:
        return False, f"no answer from {url}: {error}"
    if mode == "alive":
        return True, f"HTTP {status}"
    try:
        body = json.loads(raw)
    except ValueError:
        return False, f"HTTP {status}, not JSON"
    if mode == "store":
        ok = bool(body.get("store", {}).get("ok"))
        return ok, f"store ok={ok} (HTTP {status})"
    return status == 200, f"HTTP {status}: store ok={body.get('store', {}).get('ok')}, nats ok={body.get('nats', {}).get('ok')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's /health URL")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--store", dest="mode", action="store_const", const="store", help="healthy when the store answers")
    group.add_argument("--alive", dest="mode", action="store_const", const="alive", help="healthy when HTTP answers")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    ok, detail = probe(args.url, args.mode or "ready", args.timeout)
    print(detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
