"""The one sandboxed Jinja2 environment for campaign templates, its limits, and compiling.

One :class:`~jinja2.sandbox.SandboxedEnvironment` is built here and nowhere else
(:func:`environment`), with ``StrictUndefined`` (a missing variable is an error, never an
empty greeting), autoescape for the HTML part, and the project's filters
(:mod:`campaigns.filters`); ``track(url)`` is a click-tracking link whose target is signed
inside the token (:mod:`campaigns.links`); ``unsubscribe_url`` and ``open_pixel_url`` are
variables.

Hostile or runaway templates are refused when the campaign is checked
(:func:`campaigns.preview.check_templates`, with the line) and stopped at render time by
budgets on every message: attribute access beyond what the sandbox allows, ranges over 1,000
items, more than 10,000 loop iterations or calls in all, string or list repetition and
concatenation past 100,000 items, powers with big exponents, ``%`` formatting, macro
recursion deeper than 20, an output part longer than 500,000 characters. Filters that can
allocate at will (``center``, ``indent``, ``format``, ``wordwrap``, ``batch``, ``slice``,
``pprint``) and ``random`` (not reproducible), ``safe`` (raw HTML from data) and ``lipsum``
are not available.

:func:`compile_templates` compiles each template once per process (cached by its source)
and records what it reads (:class:`Plan`), which the batch renderer uses to render once per
distinct input and to fill plain ``{{ name }}`` slots column-wise.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.debug import rewrite_traceback_stack
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from campaigns.errors import TemplateRenderError, TemplateResourceError
from campaigns.filters import FILTERS
from campaigns.links import CLICK_PATH

__all__ = [
    "CHANNEL_PARTS",
    "LIMITS",
    "LINK_VARIABLES",
    "Limits",
    "Plan",
    "compile_templates",
    "environment",
]

#: The parts each channel's template has, and the output column each renders into.
CHANNEL_PARTS: dict[str, dict[str, str]] = {
    "email": {"subject": "subject", "html": "body_html", "text": "body_text"},
    "sms": {"text": "sms_text"},
}
#: Variables the render path provides besides the context columns.
LINK_VARIABLES = ("unsubscribe_url", "open_pixel_url", "message_key")


@dataclass(frozen=True)
class Limits:
    """What one message may use. A template that needs more is stopped with a clear error."""

    max_range: int = 1_000  # items of one range()
    max_iterations: int = 10_000  # loop iterations in one message, all loops together
    max_calls: int = 10_000  # function and macro calls in one message
    max_depth: int = 20  # nested calls (macro recursion)
    max_length: int = 100_000  # items of one string or list built by the template
    max_output: int = 500_000  # characters of one rendered part
    max_exponent: int = 64  # right operand of **
    max_source: int = 200_000  # characters of one template's source


LIMITS = Limits()


class _Budget(threading.local):
    """What the message being rendered has used so far (one per thread)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.iterations = 0
        self.calls = 0
        self.depth = 0


def _too_much(what: str) -> TemplateResourceError:
    return TemplateResourceError("<template>", what)


_BLOCKED_METHODS = frozenset(
    {"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs", "replace"}
)
_BLOCKED_FILTERS = (
    *("center", "indent", "format", "wordwrap", "batch", "slice", "pprint"),
    *("random", "safe"),
)


class _GuardedEnvironment(SandboxedEnvironment):
    """The sandbox plus per-message budgets for time and memory."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, limits: Limits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self.budget = _Budget()

    # -- the parsed template: every loop and concatenation goes through a guard
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        if len(source) > self.limits.max_source:
            raise TemplateSyntaxError(
                f"template is {len(source):,} characters; the limit is {self.limits.max_source:,}",
                1,
                name,
                filename,
            )
        tree: nodes.Template = _Guards().visit(super()._parse(source, name, filename))
        return tree

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str | list | bytes) and attr in _BLOCKED_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget, limits = __self.budget, __self.limits
        budget.calls += 1
        if budget.calls > limits.max_calls:
            raise _too_much(f"more than {limits.max_calls:,} calls in one message")
        # the platform's own functions (track, range, the guards) skip the generic checks
        trusted = getattr(__obj, "crm_trusted", None)
        if trusted is not None and not kwargs:
            return __obj(__context, *args) if trusted == "context" else __obj(*args)
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > 10**9:
                raise _too_much(f"a call with the number {arg}; numbers that big are refused")
        budget.depth += 1
        try:
            if budget.depth > limits.max_depth:
                raise _too_much(f"calls nested deeper than {limits.max_depth} (recursion?)")
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        limit = self.limits.max_length
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' string formatting is not available in templates")
        if (
            operator == "**"
            and isinstance(right, int | float)
            and abs(right) > self.limits.max_exponent
        ):
            raise _too_much(
                f"a power with exponent {right}; the limit is {self.limits.max_exponent}"
            )
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > limit:
                    raise _too_much(
                        f"repeating {len(seq):,} items {times:,} times; the limit is {limit:,}"
                    )
        result = self.binop_table[operator](left, right)
        return _checked_length(result, limit)


class _Guards(NodeTransformer):
    """Every loop's items counted, every ``~`` concatenation's length checked (one call each)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _guard_call("_crm_loop", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("_crm_length", node)


def _guard_call(name: str, node: nodes.Node) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), [node], [], None, None, lineno=node.lineno)


def _checked_length(value: Any, limit: int) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > limit:
        raise _too_much(f"a value of {len(value):,} items; the limit is {limit:,}")
    return value


def _replace_filter(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    grows = text.count(old) * max(len(new) - len(old), 0) if old else len(text) * len(new)
    if len(text) + grows > LIMITS.max_length:
        raise _too_much(f"replace would build {len(text) + grows:,} characters")
    return text.replace(old, new, -1 if count is None else count)


def _length_guarded(func: Callable[..., Any], limit: int) -> Callable[..., Any]:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return _checked_length(func(*args, **kwargs), limit)

    return guarded


def _finalize(value: Any) -> Any:
    """What ``{{ x }}`` prints: nothing for a missing value, never ``None`` or ``nan``."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html")


@functools.cache
def environment(limits: Limits = LIMITS) -> _GuardedEnvironment:
    """The one sandboxed Jinja2 environment for campaign templates (built once per process).

    Templates named ``*.html`` are autoescaped; the others (subject, text, SMS) are not.
    """
    env = _GuardedEnvironment(
        limits,
        undefined=StrictUndefined,
        autoescape=_autoescape,
        finalize=_finalize,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=0,
    )
    for name in _BLOCKED_FILTERS:
        env.filters.pop(name, None)
    env.filters["replace"] = _replace_filter
    env.filters = {k: _length_guarded(f, limits.max_length) for k, f in env.filters.items()}
    env.filters.update(FILTERS)
    env.globals.pop("lipsum", None)

    def guarded_range(*args: int) -> range:
        items = range(*args)
        if len(items) > limits.max_range:
            raise _too_much(f"range of {len(items):,} items; the limit is {limits.max_range:,}")
        return items

    budget = env.budget

    def loop(items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            budget.iterations += 1
            if budget.iterations > limits.max_iterations:
                raise _too_much(
                    f"more than {limits.max_iterations:,} loop iterations in one message"
                )
            yield item

    def length(value: Any) -> Any:
        return _checked_length(value, limits.max_length)

    for trusted in (guarded_range, loop, length):
        setattr(trusted, "crm_trusted", "plain")  # noqa: B010
    env.globals.update(range=guarded_range, _crm_loop=loop, _crm_length=length)
    return env


# -- compiling -----------------------------------------------------------------------------


def _as_mapping(templates: Any) -> dict[str, dict[str, dict[str, str]]]:
    """``{channel: {language: {part: source}}}`` from a mapping or a pydantic model."""
    if hasattr(templates, "model_dump"):
        templates = templates.model_dump(exclude_none=True)
    out: dict[str, dict[str, dict[str, str]]] = {}
    for channel, languages in (templates or {}).items():
        if languages is None:
            continue
        if hasattr(languages, "model_dump"):
            languages = languages.model_dump(exclude_none=True)
        out[channel] = {}
        for language, parts in languages.items():
            if hasattr(parts, "model_dump"):
                parts = parts.model_dump(exclude_none=True)
            out[channel][language] = {k: v for k, v in dict(parts).items() if v is not None}
    return out


def _name(channel: str, language: str, part: str) -> str:
    return f"templates.{channel}.{language}.{part}"


@functools.lru_cache(maxsize=256)
def _code(name: str, source: str) -> Any:
    return environment().compile(source, name=name, filename=name)


def compile_templates(
    templates: Any, extra_globals: Mapping[str, Any] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Compiled templates by (channel, language), each a dict part → Jinja2 template.

    Parameters
    ----------
    templates : mapping or pydantic model
        ``{"email": {lang: {"subject", "html", "text"}}, "sms": {lang: {"text"}}}``.
    extra_globals : mapping, optional
        Campaign parameters and the per-run ``track`` function, visible to every template.

    Raises
    ------
    TemplateRenderError
        For a syntax error, an unknown filter or test, with the template and line.
    """
    env = environment()
    shared = env.make_globals(dict(extra_globals or {}))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for channel, languages in _as_mapping(templates).items():
        for language, parts in languages.items():
            compiled = {}
            for part, source in parts.items():
                name = _name(channel, language, part)
                try:
                    code = _code(name, source)
                except TemplateSyntaxError as exc:
                    raise TemplateRenderError(name, exc.message or str(exc), exc.lineno) from None
                template = env.template_class.from_code(env, code, shared, None)
                plan = _plan(name, source)
                template.crm_plan = plan  # type: ignore[attr-defined]
                template.crm_uses = plan.reads  # type: ignore[attr-defined]
                template.crm_assigns = plan.assigns  # type: ignore[attr-defined]
                compiled[part] = template
            out[(channel, language)] = compiled
    return out


def _line_of(exc: BaseException, name: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == name:
            line = frame.lineno
    return line


def _explain(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed in templates: {exc}"
    if isinstance(exc, TemplateResourceError):
        return exc.message
    return str(exc) or type(exc).__name__


# -- rendering one part carefully ----------------------------------------------------------


def _tracker(base_url: str, sign: Callable[[tuple[str, ...]], str]) -> Callable[..., str]:
    prefix = f"{base_url.rstrip('/')}{CLICK_PATH}"

    @pass_context
    def track(ctx: Context, url: Any) -> str:
        """``{{ track("https://shop.example/x") }}``: the click-tracked link to that URL."""
        return prefix + sign((_checked_field(str(ctx["message_key"])), _checked_field(str(url))))

    track.crm_trusted = "context"  # type: ignore[attr-defined]
    return track


def _checked_field(value: str) -> str:
    if "\x1f" in value:
        raise ValueError("a tracked URL or message key may not contain U+001F")
    return value


def _fail(exc: BaseException, name: str) -> TemplateRenderError:
    """The campaign error for ``exc`` raised while rendering template ``name`` (with its line)."""
    try:
        rewritten = rewrite_traceback_stack(source=None)
    except Exception:
        rewritten = exc
    line = _line_of(rewritten, name)
    if isinstance(exc, TemplateResourceError):
        return TemplateResourceError(name, exc.message, line)
    return TemplateRenderError(name, _explain(exc), line)


def _render(template: Any, context: dict[str, Any], name: str) -> str:
    """One part for one recipient, counting the output as it grows (the careful path of
    :func:`check_templates`); errors name the template and line."""
    env = environment()
    env.budget.reset()
    limit = env.limits.max_output
    try:
        chunks = []
        size = 0
        for chunk in template.root_render_func(template.new_context(context)):
            size += len(chunk)
            if size > limit:
                raise _too_much(f"the output passed {limit:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:
        raise _fail(exc, name) from None


def _uses(template: Any) -> frozenset[str]:
    """Names a compiled template reads from its context."""
    used: frozenset[str] = getattr(template, "crm_uses", frozenset())
    return used


#: What the project's filters and functions read from the context besides their arguments.
_IMPLICIT = frozenset({"locale", "currency", "timezone"})


@dataclass(frozen=True)
class Plan:
    """What a template reads: every context name (``reads``), those printed only as a bare
    ``{{ name }}`` and never assigned (``slots``), and whether it assigns anything."""

    reads: frozenset[str]
    slots: frozenset[str]
    assigns: bool = True


@functools.lru_cache(maxsize=256)
def _plan(name: str, source: str) -> Plan:
    tree = environment().parse(source, name, name)
    undeclared = frozenset(meta.find_undeclared_variables(tree))
    reads = undeclared | _IMPLICIT | ({"message_key"} if "track" in undeclared else frozenset())
    bare = {
        id(node)
        for output in tree.find_all(nodes.Output)
        for node in output.nodes
        if isinstance(node, nodes.Name) and node.ctx == "load"
    }
    loads: dict[str, list[int]] = {}
    stored: set[str] = set()
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load":
            loads.setdefault(node.name, []).append(id(node))
        else:
            stored.add(node.name)
    for macro in tree.find_all(nodes.Macro):
        stored.update(arg.name for arg in macro.args)
    slots = frozenset(
        v
        for v, ids in loads.items()
        if v in undeclared
        and v not in stored
        and v not in _IMPLICIT
        and all(i in bare for i in ids)
    )
    assigns = tree.find(nodes.Assign) is not None or tree.find(nodes.AssignBlock) is not None
    return Plan(reads, slots, assigns)
