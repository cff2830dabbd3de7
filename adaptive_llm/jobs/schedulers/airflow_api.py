"""A small client of Airflow 3's REST API v2 (httpx), and a try's JSON log as readable text.

Only the calls the :class:`~.airflow.AirflowScheduler` needs. Every request is bounded by
``timeout`` seconds in total; a connection failure, a timeout or a 5xx is a ``SchedulerError``
("Airflow did not answer"), refused credentials an :class:`AirflowAuthError`, a 404 an
:class:`AirflowNotFound` carrying Airflow's own ``detail``. The password and the token are never
put in a message, a log record or a ``repr``.
"""

from __future__ import annotations

import asyncio
import linecache
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ...errors import SchedulerError

#: Task instances asked for per page of ``taskInstances/list``.
PAGE_LIMIT = 100


class AirflowAuthError(SchedulerError):
    """Airflow refused the credentials (or the token)."""


class AirflowDown(SchedulerError):
    """Airflow did not answer (connection refused, timed out, broken connection)."""


class AirflowNotFound(SchedulerError):
    """Airflow answered 404: no such DAG, DAG run, task or try."""


class AirflowConflict(SchedulerError):
    """Airflow answered 409: it exists already (a DAG run id triggered before)."""


class AirflowClient:
    """Airflow's REST API v2 at ``url`` with a bearer token: ``token`` as given, or fetched
    from ``POST /auth/token`` with ``username``/``password`` (again once when it is refused,
    e.g. expired). ``calls`` counts the requests sent, by ``"METHOD /path-template"``."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"Airflow URL must start with http:// or https://, got {url!r}")
        if token is None and (not username or password is None):
            raise ValueError("Airflow needs a token, or a username and a password")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self._token = token
        self._fixed_token = token is not None
        self.timeout = timeout
        self.calls: dict[str, int] = {}
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        who = "a token" if self._fixed_token else f"user {self.username!r}"
        return f"AirflowClient({self.url!r}, {who})"

    # -- transport ----------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.url, timeout=self.timeout)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _send(
        self, method: str, path: str, name: str, *, body: Any = None, params: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that
            # arrives as the answer does (a JobManager being closed then never stops).
            async with asyncio.timeout(self.timeout):
                return await self._client().request(
                    method, path, json=body, params=params, headers=dict(headers or {})
                )
        except TimeoutError:
            raise AirflowDown(
                f"Airflow at {self.url} did not answer {name} within {self.timeout:g}s"
            ) from None
        except httpx.HTTPError as exc:
            problem = str(exc) or type(exc).__name__
            raise AirflowDown(f"Airflow at {self.url} did not answer: {problem}") from None

    async def _login(self) -> str:
        response = await self._send(
            "POST",
            "/auth/token",
            "POST /auth/token",
            body={"username": self.username, "password": self._password},
        )
        if response.status_code in (401, 403):
            raise AirflowAuthError(
                f"Airflow at {self.url} refused the password of user {self.username!r}"
                f" ({response.status_code}: {_detail(response)})"
            )
        _raise_for(response, self.url, "POST /auth/token")
        token = _json(response, self.url).get("access_token")
        if not isinstance(token, str) or not token:
            raise SchedulerError(f"Airflow at {self.url}: POST /auth/token gave no access_token")
        return token

    async def request(
        self, method: str, path: str, name: str, *, body: Any = None, params: Any = None
    ) -> Any:
        """The JSON answer of one API call (``name`` is its path template, for ``calls``)."""
        for again in (False, True):
            if self._token is None:
                self._token = await self._login()
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
            response = await self._send(
                method, path, name, body=body, params=params, headers=headers
            )
            if response.status_code in (401, 403) and _token_refused(response):
                if self._fixed_token or again:
                    raise AirflowAuthError(
                        f"Airflow at {self.url} refused the token ({response.status_code}:"
                        f" {_detail(response)})"
                    )
                self._token = None  # expired: log in once more
                continue
            _raise_for(response, self.url, name)
            return _json(response, self.url) if response.content else None
        raise AssertionError("unreachable")

    # -- calls --------------------------------------------------------------------------------

    async def dag(self, dag_id: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"/api/v2/dags/{dag_id}", "GET /dags/{dag}"))

    async def dag_ids(self, limit: int = 20) -> list[str]:
        data = await self.request("GET", "/api/v2/dags", "GET /dags", params={"limit": limit})
        return [str(d["dag_id"]) for d in data.get("dags", [])]

    async def task_ids(self, dag_id: str) -> list[str]:
        data = await self.request("GET", f"/api/v2/dags/{dag_id}/tasks", "GET /dags/{dag}/tasks")
        return [str(t["task_id"]) for t in data.get("tasks", [])]

    async def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)}
        return dict(
            await self.request(
                "POST", f"/api/v2/dags/{dag_id}/dagRuns", "POST /dags/{dag}/dagRuns", body=body
            )
        )

    async def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The DAG run's state (``queued``, ``running``, ``success``, ``failed``)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        data = await self.request("GET", path, "GET /dags/{dag}/dagRuns/{run}")
        state = data.get("state") if isinstance(data, dict) else None
        return str(state) if state is not None else None

    async def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return dict(await self.request("GET", path, "GET /dags/{dag}/dagRuns/{run}/ti/{task}"))

    async def task_instances(
        self, dag_ids: Sequence[str], run_ids: Sequence[str], task_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every task instance of those DAGs, runs and tasks (each map index of a mapped
        task): one call per 100 of them."""
        found: list[dict[str, Any]] = []
        while True:
            body = {
                "dag_ids": sorted(set(dag_ids)),
                "dag_run_ids": sorted(set(run_ids)),
                "task_ids": sorted(set(task_ids)),
                "page_limit": PAGE_LIMIT,
                "page_offset": len(found),
                "order_by": "id",
            }
            page, total = await self.task_instance_page(body)
            found.extend(page)
            if len(page) < PAGE_LIMIT or len(found) >= total:
                return found

    async def task_instance_page(self, body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """One page of ``taskInstances/list`` (``body`` its filters) and the total count."""
        data = await self.request(
            "POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list", "POST /ti/list",
            body=dict(body),
        )  # fmt: skip
        page = list(data.get("task_instances", [])) if isinstance(data, dict) else []
        total = int(data.get("total_entries", 0)) if isinstance(data, dict) else 0
        return page, total

    async def log_events(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """The try's log as Airflow's JSON events (all of them: ``full_content``)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        params = {"full_content": "true", "map_index": map_index}
        data = await self.request("GET", path, "GET /ti/logs/{try}", params=params)
        content = data.get("content") if isinstance(data, dict) else None
        if isinstance(content, str):  # an old log: one text blob
            return [{"event": line} for line in content.splitlines()]
        return [e if isinstance(e, dict) else {"event": str(e)} for e in content or []]

    async def clear(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str | tuple[str, int]],
        *,
        dry_run: bool,
    ) -> list[dict[str, Any]]:
        """Clear the tasks in the run (``dry_run``: only list what would be cleared); an entry
        ``(task_id, map_index)`` clears one map index of a mapped task."""
        body = {
            "dry_run": dry_run,
            "dag_run_id": run_id,
            "task_ids": [t if isinstance(t, str) else list(t) for t in task_ids],
            "only_failed": False,
            "include_downstream": False,
            "include_upstream": False,
            "run_on_latest_version": True,
        }
        data = await self.request(
            "POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", "POST /dags/{dag}/clear",
            body=body,
        )  # fmt: skip
        return list(data.get("task_instances", [])) if isinstance(data, dict) else []

    async def set_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> None:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index != -1:
            path += f"/{map_index}"
        await self.request(
            "PATCH", path, "PATCH /dags/{dag}/dagRuns/{run}/ti/{task}", body={"new_state": state}
        )

    async def dag_source(self, dag_id: str) -> str:
        data = await self.request("GET", f"/api/v2/dagSources/{dag_id}", "GET /dagSources/{dag}")
        return str(data.get("content") or "") if isinstance(data, dict) else ""


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if detail is None:
        return response.text.strip()[:200] or response.reason_phrase
    return detail if isinstance(detail, str) else str(detail)[:300]


def _token_refused(response: httpx.Response) -> bool:
    """A 401, or a 403 about the token (a 403 may also mean the user lacks a permission)."""
    return response.status_code == 401 or "token" in _detail(response).lower()


def _raise_for(response: httpx.Response, url: str, name: str) -> None:
    code = response.status_code
    if code < 400:
        return
    if code == 404:
        raise AirflowNotFound(_detail(response))
    if code == 409:
        raise AirflowConflict(_detail(response))
    if code >= 500:
        raise SchedulerError(f"Airflow at {url} failed {name}: {code} {_detail(response)}")
    raise SchedulerError(f"Airflow at {url} refused {name}: {code} {_detail(response)}")


def _json(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SchedulerError(
            f"Airflow at {url} answered {response.status_code} with no JSON:"
            f" {response.text[:200]!r}"
        ) from None


# -- a try's log as text -----------------------------------------------------------------------


def format_events(events: Sequence[Mapping[str, Any]]) -> str:
    """The JSON events of a try's log as the text a user reads: one line per event
    (``timestamp LEVEL logger: event``), and after a failure's event its ``error_detail`` as a
    Python traceback (causes first, ``File "...", line N, in name`` frames with their source
    line when the file is readable here, then ``Type: message``)."""
    out: list[str] = []
    for event in events:
        text = str(event.get("event", ""))
        if text.startswith(("::group::", "::endgroup::")):
            continue
        parts = [str(event[k]) for k in ("timestamp",) if event.get(k)]
        if event.get("level"):
            parts.append(str(event["level"]).upper())
        if event.get("logger"):
            parts.append(f"{event['logger']}:")
        out.append(" ".join([*parts, text]) if parts else text)
        detail = event.get("error_detail")
        if isinstance(detail, list) and detail:
            out.extend(format_error_detail(detail))
    return "\n".join(out) + "\n"


def format_error_detail(stacks: Sequence[Any]) -> list[str]:
    """structlog's exception dicts (the raised exception first, then its causes) as Python
    prints them (causes first)."""
    lines: list[str] = []
    ordered = [s for s in stacks if isinstance(s, Mapping)][::-1]
    for index, stack in enumerate(ordered):
        if index:
            lines.append("")
            lines.append(
                "The above exception was the direct cause of the following exception:"
                if ordered[index - 1].get("is_cause")
                else "During handling of the above exception, another exception occurred:"
            )
            lines.append("")
        lines.extend(_format_stack(stack))
    return lines


def _format_stack(stack: Mapping[str, Any]) -> list[str]:
    lines = ["Traceback (most recent call last):"]
    for frame in stack.get("frames") or []:
        if not isinstance(frame, Mapping):
            continue
        filename, lineno = str(frame.get("filename", "?")), frame.get("lineno")
        lines.append(f'  File "{filename}", line {lineno}, in {frame.get("name", "?")}')
        source = _source_line(filename, lineno)
        if source:
            lines.append(f"    {source}")
    syntax = stack.get("syntax_error")
    if isinstance(syntax, Mapping):
        lines.append(f'  File "{syntax.get("filename", "?")}", line {syntax.get("lineno", "?")}')
        text = str(syntax.get("text") or syntax.get("line") or "").rstrip("\n")
        if text:
            stripped = text.lstrip()
            lines.append(f"    {stripped}")
            offset = syntax.get("offset")
            if isinstance(offset, int) and offset > 0:
                lines.append("    " + " " * max(0, offset - 1 - (len(text) - len(stripped))) + "^")
    exc_type = str(stack.get("exc_type") or "Exception")
    value = str(stack.get("exc_value") or "")
    lines.append(f"{exc_type}: {value}" if value else exc_type)
    lines.extend(str(note) for note in stack.get("exc_notes") or [])
    for inner in stack.get("exceptions") or []:  # an exception group's members
        if isinstance(inner, Mapping):
            lines.extend("  | " + line for line in _format_stack(inner))
    return lines


def _source_line(filename: str, lineno: Any) -> str:
    """The source line when the file is here and small (the worker may be another host)."""
    if not isinstance(lineno, int) or lineno < 1:
        return ""
    try:
        if os.path.getsize(filename) > 4 << 20:
            return ""
    except OSError:
        return ""
    linecache.checkcache(filename)  # a DAG file fixed since: its new line
    return linecache.getline(filename, lineno).strip()
