"""The console's only way to the platform: its public HTTP API (API.md), with the user's token.

``Api`` wraps an ``httpx.AsyncClient``; a refusal (4xx/5xx) raises ``ApiProblem`` carrying the
problem+json body, which ``Refusal`` turns into Chinese messages keyed by form field.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from console.refusals import VALIDATION_ZH, sentence, without_ids
from console.rules import explain

GENERIC_ZH = {
    401: "登录已过期，请重新登录",
    403: "无权办理：角色或县（区）不符（R-AUD-6）",
    404: "找不到该记录",
    409: "记录已被他人修改或重复提交，请刷新后重试",
}

NEXT_CURSOR = "X-Next-Cursor"  # the API's lists are paged by cursor (shared/infra/paging.py)


class ApiProblem(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status}: {problem.get('detail') or problem.get('title')}")

    @property
    def rule(self) -> str | None:
        return self.problem.get("rule")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")


class SessionExpired(Exception):
    """The API answered 401: the session's token is no longer accepted."""


@dataclass
class Message:
    """One refusal as the console shows it: ``text`` in Chinese first; ``detail`` the API's English
    words, without ids, shown muted (详情) only when the console has no Chinese sentence for it."""

    text: str  # Chinese: the refusal's sentence with its figures, else what the rule asks
    rule: str | None = None
    hint: str = ""  # what the rule asks, in Chinese (empty when ``text`` already says it)
    detail: str = ""


@dataclass
class Refusal:
    """A refusal mapped onto a form: messages per field name, and those naming no known field."""

    fields: dict[str, list[Message]] = field(default_factory=dict)
    general: list[Message] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str | None, text: str, rule: str | None = None) -> None:
        """A message the console words itself (in Chinese)."""
        self._put(name, Message(text, rule, explain(rule)))

    def add_api(self, name: str | None, english: str, rule: str | None, zh: str | None, fallback: str = "") -> None:
        """A message of the API: its Chinese sentence ``zh`` when there is one; otherwise the rule's
        hint (or ``fallback``) is the message and the API's ``english`` its muted detail, without ids."""
        hint = explain(rule)
        if zh:
            self._put(name, Message(zh, rule, hint))
        else:
            self._put(name, Message(hint or fallback or "请求被拒绝", rule, "", without_ids(english)))

    def _put(self, name: str | None, message: Message) -> None:
        if name:
            self.fields.setdefault(name, []).append(message)
        else:
            self.general.append(message)

    @classmethod
    def of(
        cls, exc: ApiProblem, known: set[str] | None = None, aliases: dict[str, str] | None = None,
        names: dict[str, str] | None = None,
    ) -> Refusal:
        """Place each error of the problem next to the form field it names. ``aliases`` maps the
        API's field path (or its prefix, e.g. ``funding``) to the form's field name; a field
        the form does not have goes to the general messages, still naming the API field.
        ``names``: the names of the workers, stations … the page knows, by id, for the Chinese
        sentences (:mod:`console.refusals`); an id not among them is never shown."""
        refusal = cls()
        p = exc.problem
        aliases = aliases or {}

        def place(api_field: str | None) -> str | None:
            if not api_field:
                return None
            for candidate in (api_field, *_prefixes(api_field)):
                if candidate in aliases:
                    return aliases[candidate]
                if known is not None and candidate in known:
                    return candidate
            return None if known is not None else api_field

        errors = p.get("errors") or []
        if errors:
            for e in errors:
                name = place(e.get("field"))
                text = str(e.get("message", ""))
                zh = sentence(e.get("facts"), names) or VALIDATION_ZH.get(str(e.get("type")))
                refusal.add_api(name, text if name else f"{e.get('field')}: {text}", p.get("rule"), zh, "填写有误")
        else:
            name = place(p.get("field"))
            zh = sentence(p.get("facts"), names)
            if zh is None and exc.status in GENERIC_ZH and not p.get("rule"):
                zh = GENERIC_ZH[exc.status]
                refusal.add_api(name, exc.detail, None, None, zh)
            else:
                refusal.add_api(name, exc.detail, p.get("rule"), zh, GENERIC_ZH.get(exc.status, "请求被拒绝"))
        return refusal


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def _check(self, r: httpx.Response) -> httpx.Response:
        if r.status_code == 401 and self.token:
            raise SessionExpired()
        if r.status_code >= 400:
            try:
                body = r.json()
                if not isinstance(body, dict):
                    body = {"detail": str(body)}
            except ValueError:
                body = {"detail": r.text[:500]}
            raise ApiProblem(r.status_code, body)
        return r

    async def get(self, path: str, **params: Any) -> Any:
        """The answer's JSON — for a list, the API's one page (its default ``limit``): list pages read
        one page with :func:`console.paging.read_page`, pickers with :func:`console.paging.read_bounded`."""
        params = {k: v for k, v in params.items() if v is not None}
        r = await self._check(await self.client.get(path, params=params, headers=self._headers()))
        return r.json()

    async def get_page(self, path: str, cursor: str | None = None, **params: Any) -> tuple[list[Any], str | None]:
        """One page of a list (``limit`` among ``params``) and the cursor of the next (None on the last page)."""
        params = {k: v for k, v in {**params, "cursor": cursor}.items() if v is not None}
        r = await self._check(await self.client.get(path, params=params, headers=self._headers()))
        return r.json(), r.headers.get(NEXT_CURSOR)

    async def get_raw(self, path: str, **params: Any) -> httpx.Response:
        params = {k: v for k, v in params.items() if v is not None}
        headers = self._headers()
        headers["Accept"] = "*/*"
        return await self._check(await self.client.get(path, params=params, headers=headers))

    async def send(
        self, method: str, path: str, json: Any = None, *, files: Any = None, params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        r = await self.client.request(
            method, path, json=json, files=files, params={k: v for k, v in (params or {}).items() if v is not None},
            headers=self._headers(idempotency_key or str(uuid.uuid4())),
        )
        r = await self._check(r)
        return r.json() if r.content else None

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return await self.send("POST", path, json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return await self.send("PUT", path, json, **kwargs)


class NoApi(RuntimeError):
    """The console was built without an API to call (neither a base URL nor an in-process app)."""


class ApiConnector:
    """Makes the HTTP client: to ``base_url`` over the network, or in-process to an ASGI app (the
    gateway the console is mounted in)."""

    def __init__(self, base_url: str | None, asgi_app: Any = None, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self.asgi_app = asgi_app
        self.timeout = timeout

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.base_url:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as c:
                yield c
        else:
            if self.asgi_app is None:
                raise NoApi("no API: set SWP_CONSOLE_API_BASE_URL or mount the console in the gateway")
            transport = httpx.ASGITransport(app=self.asgi_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.internal", timeout=self.timeout) as c:
                yield c
