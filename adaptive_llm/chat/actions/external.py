"""Extra tools a user gives the chat (``RunManager(..., tools=[...])``): how each declares what
it does, how its arguments are checked, and the gated action of one that sends data (they run
through :mod:`.runner`).

A tool declares itself in its ``metadata["adaptive_llm"]`` (``adaptive_llm.local_tool`` and
``adaptive_llm.sends_data`` write it): ``{"access": "local"}`` runs without asking, like
``read_file``; ``{"access": "sends_data", "to": "duckduckgo.com"}`` is gated like a command:
the user sees the tool, the destination and every argument in full, and it runs only once
approved (in YOLO mode it still asks, unless commands are allowed). Either way a call's
arguments are checked strictly against the tool's schema, a sync-only tool runs in a thread
of its own (the event loop never waits on it), every call is bounded by the declared timeout,
and what comes back is redacted like a command's output and cut to its head and tail.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

from ...diagnosis.redact import redact
from ..records import Item
from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan
from .runner import OUTPUT_LIMIT, run_tool

__all__ = [
    "DEFAULT_TIMEOUT",
    "META_KEY",
    "OUTPUT_LIMIT",
    "Declaration",
    "ExtraTool",
    "Toolset",
    "declaration_of",
    "parse_args",
    "run_tool",
    "sends_data_action",
    "shown_text",
]

#: The key of a tool's ``metadata`` that holds its declaration.
META_KEY = "adaptive_llm"
#: Seconds a call of an extra tool may take, unless its declaration says otherwise.
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 600.0
#: The arguments of a sends-data call, as shown, may be at most this long (else refused:
#: the user could not read them).
SHOWN_LIMIT = 20_000
#: What providers accept as a tool name.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOW = (
    "declare it with adaptive_llm.local_tool(tool) if it only reads locally, or"
    ' adaptive_llm.sends_data(tool, to="host.example") if it sends data off the machine'
)


@dataclass(frozen=True)
class Declaration:
    """What an extra tool does: it only reads locally, or it sends data ``to`` somewhere."""

    access: Literal["local", "sends_data"]
    to: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def sends(self) -> bool:
        return self.access == "sends_data"

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {"access": self.access, "timeout": self.timeout}
        if self.to is not None:
            data["to"] = self.to
        return data


@dataclass(frozen=True)
class ExtraTool:
    """A user's tool with its declaration."""

    tool: BaseTool
    declaration: Declaration

    @property
    def name(self) -> str:
        return self.tool.name


@dataclass(frozen=True)
class Toolset:
    """Everything the agent is built with: the tools the model is offered, the gated actions
    (built in, and one per sends-data tool), the local extra tools (run by the approval
    middleware, bounded) and the names the tool node runs without asking."""

    tools: list[BaseTool]
    actions: Mapping[str, Action]
    local: Mapping[str, ExtraTool]
    free: frozenset[str]


def check_declaration(access: Any, to: Any, timeout: Any) -> Declaration:
    """A valid declaration, or ``ValueError`` saying what is wrong."""
    if access not in ("local", "sends_data"):
        raise ValueError(f"the access must be 'local' or 'sends_data', not {access!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"the timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"the timeout must be over 0 and at most {MAX_TIMEOUT:g} s, not {timeout}")
    if access == "local":
        if to is not None:
            raise ValueError("a local tool sends nothing: it takes no destination (to=)")
        return Declaration("local", None, float(timeout))
    if not isinstance(to, str) or not to.strip():
        raise ValueError(
            'a tool that sends data must name where to: sends_data(tool, to="duckduckgo.com")'
        )
    if len(to) > 200 or any(_invisible(ch) for ch in to):
        raise ValueError(f"the destination must be a short printable text, not {to!r}")
    return Declaration("sends_data", to.strip(), float(timeout))


def declaration_of(tool: Any) -> Declaration:
    """The tool's declaration, or ``ValueError`` saying how to declare it."""
    metadata = getattr(tool, "metadata", None) or {}
    raw = metadata.get(META_KEY) if isinstance(metadata, Mapping) else None
    name = getattr(tool, "name", type(tool).__name__)
    if raw is None:
        raise ValueError(
            f"the extra tool {name!r} does not say whether it sends data off the machine: {_HOW}"
        )
    if not isinstance(raw, Mapping):
        raise ValueError(f"the extra tool {name!r} has an invalid declaration {raw!r}: {_HOW}")
    try:
        return check_declaration(
            raw.get("access"), raw.get("to"), raw.get("timeout", DEFAULT_TIMEOUT)
        )
    except ValueError as exc:
        raise ValueError(f"the extra tool {name!r} has an invalid declaration: {exc}") from None


def check_tools(tools: Collection[Any], reserved: Collection[str]) -> list[ExtraTool]:
    """The extra tools with their declarations; ``TypeError``/``ValueError`` naming the first
    one that is not a LangChain tool, is not declared, or whose name is taken or invalid."""
    out: list[ExtraTool] = []
    seen: set[str] = set()
    for tool in tools:
        if not isinstance(tool, BaseTool):
            raise TypeError(
                f"tools= takes LangChain tools (BaseTool), not {type(tool).__name__}: wrap a"
                " function with adaptive_llm.local_tool(fn) or adaptive_llm.sends_data(fn, to=...)"
            )
        declaration = declaration_of(tool)
        name = tool.name
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"the extra tool name {name!r} is not accepted by model providers: use 1-64"
                " letters, digits, '_' or '-'"
            )
        if name in reserved:
            raise ValueError(
                f"the extra tool {name!r} has the name of a built-in tool of the chat; give it"
                f" another name (built-in: {', '.join(sorted(reserved))})"
            )
        if name in seen:
            raise ValueError(f"two extra tools are named {name!r}; tool names must be unique")
        seen.add(name)
        out.append(ExtraTool(tool, declaration))
    return out


# -- arguments --------------------------------------------------------------------------------


def parse_args(tool: BaseTool, raw: Any) -> dict[str, Any]:
    """The model's arguments for ``tool``, unchanged, once checked strictly against its schema
    (no unknown fields, no coercion: ``"5"`` is not an int); ``ActionError`` otherwise."""
    name = tool.name
    if not isinstance(raw, dict):
        raise ActionError(f"{name} takes an object of arguments, got {type(raw).__name__}")
    try:
        text = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"invalid arguments for {name}: {exc}") from None
    schema = tool.tool_call_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        known = _fields(schema)
        _check_keys(name, raw, known, None)
        try:
            schema.model_validate_json(text, strict=True)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise ActionError(f"invalid arguments for {name}: {problems}") from None
    else:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        required = schema.get("required") if isinstance(schema, dict) else None
        known = set(properties) if isinstance(properties, dict) else set(tool.args)
        _check_keys(name, raw, known, required if isinstance(required, list) else None)
    return raw


def _fields(schema: type[BaseModel]) -> set[str]:
    try:
        return set(schema.model_json_schema().get("properties", {}))
    except Exception:  # a type with no JSON schema: the field names and their aliases
        fields = schema.model_fields
        return {*fields, *(f.alias for f in fields.values() if f.alias)}


def _check_keys(
    name: str, raw: dict[str, Any], known: set[str], required: list[Any] | None
) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ActionError(
            f"invalid arguments for {name}: unknown field {unknown[0]!r} (its fields: {allowed})"
        )
    missing = [r for r in required or () if r not in raw]
    if missing:
        raise ActionError(f"invalid arguments for {name}: {missing[0]!r} is required")


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch == "\x85"


def shown_text(name: str, to: str, args: Mapping[str, Any]) -> str:
    """What the user approves: the tool, where to, and every argument in full, as JSON
    (control and invisible characters written as ``\\uXXXX``, so what is read is what goes)."""
    body = json.dumps(args, indent=2, ensure_ascii=False)
    # Inside its strings JSON already escapes the C0 controls (a newline there is ``\n``): a
    # raw newline is the layout's; the other invisible characters are escaped here.
    body = "".join(json.dumps(ch)[1:-1] if ch != "\n" and _invisible(ch) else ch for ch in body)
    return f"Tool: {name}\nSends to: {to}\nArguments, sent exactly as shown:\n{body}"


# -- the gated action of a sends-data tool ------------------------------------------------


class ExternalArgs(ActionArgs):
    """The model's arguments for an extra tool, checked against the tool's own schema."""

    values: dict[str, Any]


class SendsData(Action):
    """A call of an extra tool that sends data off the machine, put to the user in full."""

    name = "sends_data"
    description = "Call an extra tool that sends data off the machine."
    args = ExternalArgs
    #: As commands: asks even in YOLO mode, unless commands are allowed (a command could
    #: send the same data).
    auto_flag = "allow_commands"
    extra: ClassVar[ExtraTool]

    def parse(self, raw: Any) -> ActionArgs:
        return ExternalArgs(values=parse_args(self.extra.tool, raw))

    def shown_args(self, args: ActionArgs) -> dict[str, Any]:
        assert isinstance(args, ExternalArgs)
        return args.values

    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        assert isinstance(args, ExternalArgs)
        to = self.extra.declaration.to or "?"
        text = shown_text(self.name, to, args.values)
        if len(text) > SHOWN_LIMIT:
            raise ActionError(
                f"the arguments are too long to show ({len(text)} characters, at most"
                f" {SHOWN_LIMIT}); nothing was sent. Send a shorter query."
            )
        count = len(args.values)
        summary = f"Send to {to} with {self.name} ({count} argument{'s' * (count != 1)})"
        if any(redact(value) != value for value in _strings(args.values)):
            summary += "; WARNING: an argument looks like it holds a secret"
        return Plan(
            summary=summary,
            kind="send",
            command=text,
            to=to,
        )

    async def apply(self, env: ActionEnv, item: Item) -> str:
        shown_to = item.shown.get("to")
        to = self.extra.declaration.to
        if shown_to != to:
            raise ActionError(
                f"not sent: {self.name} now sends to {to}, but the change you approved sends to"
                f" {shown_to}; nothing was sent"
            )
        args = item.shown.get("args")
        if not isinstance(args, dict):
            raise ActionError("not sent: the recorded arguments are not an object")
        tool = self.extra.tool
        return await run_tool(tool, parse_args(tool, args), self.extra.declaration.timeout)

    async def resume(self, env: ActionEnv, item: Item) -> str:
        raise ActionError(
            f"the call of {self.name} was started before the kernel stopped; whether its data"
            " was sent is unknown, and it was not sent again"
        )


def _strings(value: Any) -> list[str]:
    """Every string of a JSON value (keys too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def sends_data_action(extra: ExtraTool) -> Action:
    """The gated action of one sends-data tool."""

    class _Bound(SendsData):
        name = extra.tool.name
        description = extra.tool.description

    _Bound.extra = extra
    return _Bound()
