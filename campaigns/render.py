"""Rendering campaign messages: the one sandboxed Jinja2 environment, its filters and limits (C4).

One :class:`~jinja2.sandbox.SandboxedEnvironment` is built here and nowhere else
(:func:`environment`), with ``StrictUndefined`` (a missing variable is an error, never an
empty greeting), autoescape for the HTML part, and the project's filters:

- ``money`` / ``number``: babel's currency and decimal formats in the recipient's locale
  (``1 500,00 ₽`` for ``ru_RU``, ``RUB1,500.00`` for ``en_US``);
- ``date`` / ``datetime``: babel's date formats in the recipient's locale and time zone;
- ``plural``: the CLDR plural category of a number in the recipient's language,
  ``{{ n }} {{ n|plural("балл", "балла", "баллов") }}`` (Russian one/few/many: 1 балл,
  2 балла, 5 баллов, 21 балл) and ``n|plural("point", "points")`` (English one/other);
- ``declension``: a Russian given name, patronymic or surname in another case with the
  ``petrovich`` package (``"Иван"|declension("dative", "m")`` → ``Ивану``), falling back to
  the name as written (nominative) whenever the form is not certain: a name not in Cyrillic,
  an unknown gender on which the forms disagree, anything petrovich cannot decline;
- ``track(url)``: a click-tracking link whose target is signed inside the token
  (:mod:`campaigns.links`); ``unsubscribe_url`` and ``open_pixel_url`` are variables.

Hostile or runaway templates are refused when the campaign is checked (:func:`check_templates`,
with the line) and stopped at render time by budgets on every message: attribute access
beyond what the sandbox allows, ranges over 1,000 items, more than 10,000 loop iterations or
calls in all, string or list repetition and concatenation past 100,000 items, powers with
big exponents, ``%`` formatting, macro recursion deeper than 20, an output part longer than
500,000 characters. Filters that can allocate at will (``center``, ``indent``, ``format``,
``wordwrap``, ``batch``, ``slice``, ``pprint``) and ``random`` (not reproducible), ``safe``
(raw HTML from data) and ``lipsum`` are not available.

:func:`render_messages` renders a frame of contexts (:mod:`campaigns.context`): templates
compile once per run; within each (channel, language) group a part is rendered once per
distinct combination of the context values it reads (a template is a pure function of them:
the sandbox has no clock and no randomness), from the columns zipped (no
``to_dict('records')``), and a value printed only as a bare ``{{ name }}`` (a promo code, a
link) is joined in column-wise after rendering, escaped as Jinja2 would. ``_render_frame(...,
memo=False)`` renders every row instead; a test holds the two equal. With ``processes > 1``
the rows split across forked worker processes by a hash of the customer id. The same function
serves preview and send, so the bytes a marketer previews are the bytes queued.
"""

from __future__ import annotations

import datetime as dt
import functools
import multiprocessing
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.debug import rewrite_traceback_stack
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer
from markupsafe import escape

from campaigns.context import LOCALES, sample_context
from campaigns.errors import TemplateRenderError, TemplateResourceError
from campaigns.links import CLICK_PATH, OPEN_PATH, UNSUBSCRIBE_PATH, LinkSigner
from campaigns.mime import build_mime
from campaigns.sms import segment_counts
from crm.definitions import Problem, closest

__all__ = [
    "CHANNEL_PARTS",
    "LIMITS",
    "Limits",
    "check_templates",
    "compile_templates",
    "declension",
    "environment",
    "plural",
    "render_messages",
    "render_one",
]

#: The parts each channel's template has, and the output column each renders into.
CHANNEL_PARTS: dict[str, dict[str, str]] = {
    "email": {"subject": "subject", "html": "body_html", "text": "body_text"},
    "sms": {"text": "sms_text"},
}
OUTPUT_COLUMNS = (
    "subject",
    "body_html",
    "body_text",
    "sms_text",
    "sms_encoding",
    "sms_segments",
    "mime",
)
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


# -- filters -------------------------------------------------------------------------------

_CASES = {
    "genitive": 0,
    "dative": 1,
    "accusative": 2,
    "instrumental": 3,
    "prepositional": 4,
    "родительный": 0,
    "дательный": 1,
    "винительный": 2,
    "творительный": 3,
    "предложный": 4,
}
_PARTS = ("first", "middle", "last")
_GENDERS = {"m": "male", "male": "male", "м": "male", "f": "female", "female": "female"}
_GENDERS["ж"] = "female"


@functools.cache
def _petrovich() -> Any:
    from petrovich.main import Petrovich  # loads its rules file once

    return Petrovich()


def _cyrillic_name(name: str) -> bool:
    parts = name.split("-")
    return all(p and all("а" <= c.lower() <= "я" or c in "ёЁ" for c in p) for p in parts)


@functools.lru_cache(maxsize=65_536)
def declension(name: Any, case: str, gender: Any = None, part: str = "first") -> Any:
    """A Russian name in ``case``, or the name as written when the form is not certain.

    Parameters
    ----------
    name : str
        The name in the nominative (``"Анна-Мария"``); anything else is returned as it is.
    case : str
        ``"genitive"``, ``"dative"``, ``"accusative"``, ``"instrumental"``,
        ``"prepositional"`` (or the Russian names of the cases).
    gender : {"m", "f"}, optional
        The person's gender; without it a name is declined only where the male and the
        female rules agree.
    part : {"first", "middle", "last"}
        Given name, patronymic or surname.

    Returns
    -------
    str
        The declined name, or ``name`` unchanged (never a guessed form).

    Examples
    --------
    >>> declension("Иван", "dative", "m"), declension("Анна", "genitive", "f")
    ('Ивану', 'Анны')
    >>> declension("John", "dative", "m")
    'John'
    """
    if case not in _CASES:
        raise ValueError(f"declension case {case!r}: expected one of {sorted(_CASES)[:5]}")
    if part not in _PARTS:
        raise ValueError(f"declension part {part!r}: expected one of {_PARTS}")
    if not isinstance(name, str) or not _cyrillic_name(name.strip()):
        return name
    word = name.strip()
    decline = getattr(
        _petrovich(), {"first": "firstname", "middle": "middlename"}.get(part, "lastname")
    )
    sex = _GENDERS.get(str(gender).strip().lower()) if gender is not None else None
    try:
        if sex is None:
            forms = {decline(word, _CASES[case], g) for g in ("male", "female")}
            if len(forms) != 1:
                return name
            result = forms.pop()
        else:
            result = decline(word, _CASES[case], sex)
    except (ValueError, KeyError, IndexError):
        return name
    if not result or result.count("-") != word.count("-") or not _cyrillic_name(result):
        return name
    return result


_PLURAL_ORDER = ("zero", "one", "two", "few", "many", "other")


@functools.lru_cache(maxsize=64)
def _plural_rule(locale: str) -> tuple[Callable[[float], str], tuple[str, ...]]:
    rule = Locale.parse(locale).plural_form
    return rule, tuple(t for t in _PLURAL_ORDER if t in rule.tags or t == "other")


@functools.lru_cache(maxsize=65_536)
def _plural_word(locale: str, n: float, forms: tuple[str, ...]) -> str:
    rule, categories = _plural_rule(locale)
    category = rule(n)
    named = dict(zip(categories, forms, strict=False))
    if category in named:
        return named[category]
    # Russian with three forms: fractions ("1,5 балла") take the few form
    return named.get("few", forms[-1])


def plural(locale: str, n: Any, *forms: str) -> str:
    """The form of a word that goes with ``n`` in ``locale``.

    Forms are given in CLDR order for the language: Russian ``one, few, many`` (``other``
    optional), English ``one, other``.

    Examples
    --------
    >>> [plural("ru_RU", n, "балл", "балла", "баллов") for n in (1, 2, 5, 21)]
    ['балл', 'балла', 'баллов', 'балл']
    >>> [plural("en_US", n, "point", "points") for n in (1, 2)]
    ['point', 'points']
    """
    if not forms:
        raise ValueError("plural needs the word's forms, e.g. plural('балл', 'балла', 'баллов')")
    number = float(n) if not isinstance(n, int) else n
    return _plural_word(locale, number, tuple(forms))


def _locale(ctx: Context) -> str:
    value = ctx.vars.get("locale") or ctx.get("locale")
    return value if isinstance(value, str) else LOCALES["ru"]


@pass_context
def _plural_filter(ctx: Context, n: Any, *forms: str) -> str:
    return plural(_locale(ctx), n, *forms)


@functools.lru_cache(maxsize=65_536)
def _money(value: float, currency: str, locale: str) -> str:
    return format_currency(value, currency, locale=locale)


@pass_context
def _money_filter(ctx: Context, value: Any, currency: str | None = None) -> str:
    code = currency or ctx.get("currency") or "RUB"
    return _money(float(value), str(code), _locale(ctx))


@functools.lru_cache(maxsize=65_536)
def _number(value: float, locale: str) -> str:
    return format_decimal(value, locale=locale)


@pass_context
def _number_filter(ctx: Context, value: Any) -> str:
    return _number(value, _locale(ctx))


def _as_date(value: Any, tz: str | None) -> dt.date:
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None and tz:
            stamp = stamp.tz_convert(tz)
        return stamp.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"date filter: {value!r} is not a date")


@functools.lru_cache(maxsize=65_536)
def _date(value: Any, fmt: str, locale: str, tz: str | None) -> str:
    return format_date(_as_date(value, tz), fmt, locale=locale)


@pass_context
def _date_filter(ctx: Context, value: Any, fmt: str = "long") -> str:
    tz = ctx.get("timezone")
    return _date(value, fmt, _locale(ctx), tz if isinstance(tz, str) else None)


@pass_context
def _datetime_filter(ctx: Context, value: Any, fmt: str = "medium") -> str:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    tz = ctx.get("timezone")
    zone = stamp.tz_convert(tz).tzinfo if isinstance(tz, str) else stamp.tzinfo
    return format_datetime(stamp.to_pydatetime(), fmt, tzinfo=zone, locale=_locale(ctx))


def _declension_filter(name: Any, case: str, gender: Any = None, part: str = "first") -> Any:
    return declension(name, case, gender, part)


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
    env.filters.update(
        money=_money_filter,
        number=_number_filter,
        date=_date_filter,
        datetime=_datetime_filter,
        plural=_plural_filter,
        declension=_declension_filter,
    )
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


# -- compiling and checking ----------------------------------------------------------------


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


def _static_problems(source: str, name: str, known: set[str], where: str) -> list[Problem]:
    env = environment()
    tree = env.parse(source, name=name, filename=name)
    problems = []
    unknown = meta.find_undeclared_variables(tree) - known
    lines: dict[str, int] = {}
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name in unknown:
            lines.setdefault(name_node.name, name_node.lineno)
    for variable in sorted(unknown, key=lambda v: lines.get(v, 0)):
        hint = closest(variable, known)
        message = f"unknown variable {variable!r}" + (f"; did you mean {hint!r}?" if hint else "")
        problems.append(Problem(where, lines.get(variable), name, message))
    for found in tree.find_all((nodes.Getattr, nodes.Getitem)):
        node: Any = found
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and (attr.startswith("_") or attr in _BLOCKED_METHODS):
            problems.append(
                Problem(where, node.lineno, name, f"attribute {attr!r} is not allowed in templates")
            )
    return problems


def check_templates(
    templates: Any,
    *,
    variables: Mapping[str, Any] | None = None,
    source: str = "<templates>",
) -> list[Problem]:
    """Every problem of a campaign's templates, found before anything is sent.

    Checks the channels, languages and parts, compiles each template (syntax errors,
    unknown filters and tests), looks for unknown variables (with the closest known name)
    and forbidden attributes, and renders each once for a sample recipient under the
    render limits, so a template that would fail, reach outside the sandbox or run away
    is refused here with its line.

    Parameters
    ----------
    templates : mapping or pydantic model
        As in :func:`compile_templates`.
    variables : mapping, optional
        Extra context columns and campaign parameters the templates may use, with a sample
        value each (``{"points_balance": 1200, "discount": 10}``).
    source : str
        The file name, for the problems.

    Returns
    -------
    list of Problem
        Empty when the templates are fine.
    """
    mapping = _as_mapping(templates)
    extra = dict(variables or {})
    env = environment()
    known = {*sample_context("ru"), *LINK_VARIABLES, *extra, *env.globals, "track", "channel"}
    known -= {"_crm_loop", "_crm_length"}
    problems: list[Problem] = []
    for channel, languages in mapping.items():
        if channel not in CHANNEL_PARTS:
            hint = closest(channel, CHANNEL_PARTS)
            message = f"unknown channel {channel!r}" + (f"; did you mean {hint!r}?" if hint else "")
            problems.append(Problem(source, None, f"templates.{channel}", message))
            continue
        for language, parts in languages.items():
            where = f"templates.{channel}.{language}"
            if language not in LOCALES:
                problems.append(
                    Problem(
                        source, None, where, f"unknown language; expected one of {list(LOCALES)}"
                    )
                )
                continue
            for part in sorted(set(CHANNEL_PARTS[channel]) - set(parts)):
                problems.append(
                    Problem(source, None, f"{where}.{part}", "required template is missing")
                )
            for part in sorted(set(parts) - set(CHANNEL_PARTS[channel])):
                problems.append(
                    Problem(
                        source,
                        None,
                        f"{where}.{part}",
                        f"unknown part; expected {sorted(CHANNEL_PARTS[channel])}",
                    )
                )
            for part, text in parts.items():
                if part not in CHANNEL_PARTS[channel]:
                    continue
                name = _name(channel, language, part)
                try:
                    found = _static_problems(text, name, known, source)
                    compile_templates({channel: {language: {part: text}}})
                except (TemplateSyntaxError, TemplateRenderError) as exc:
                    line = getattr(exc, "lineno", None) or getattr(exc, "line", None)
                    message = getattr(exc, "message", None) or str(exc)
                    problems.append(Problem(source, line, name, message))
                    continue
                if found:
                    problems.extend(found)
                    continue
                problems.extend(_probe(channel, language, part, text, extra, source))
    return problems


def _probe(
    channel: str, language: str, part: str, text: str, extra: dict[str, Any], source: str
) -> list[Problem]:
    """Render one template for a sample recipient under the limits; its problem, if any."""
    context = {
        **sample_context(language),
        **extra,
        "channel": channel,
        "message_key": "check:0:1",
        "unsubscribe_url": "http://127.0.0.1:8000/u/sample",
        "open_pixel_url": "http://127.0.0.1:8000/o/sample.gif",
    }
    sign = LinkSigner("check", "click").at(pd.Timestamp("2026-01-01", tz="UTC"))
    track = _tracker("http://127.0.0.1:8000", sign)
    compiled = compile_templates({channel: {language: {part: text}}}, {"track": track})
    template = compiled[(channel, language)][part]
    name = _name(channel, language, part)
    try:
        _render(template, context, name)
    except TemplateRenderError as exc:
        return [Problem(source, exc.line, name, exc.message)]
    return []


# -- rendering -----------------------------------------------------------------------------


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


class _Part:
    """One compiled template and a context object reused for every recipient.

    Jinja2 builds a new Context (globals merged, an EvalContext, block maps) for each
    ``render()``; here the context is built once with the globals as its parent, and each
    recipient's row becomes its ``vars``: the same lookups, a fifth of the cost.
    """

    def __init__(self, template: Any, name: str, column: str) -> None:
        self.name = name
        self.column = column
        self.root = template.root_render_func
        self.context = template.new_context({}, shared=False)
        self.context.parent = dict(template.globals)
        self.copies = _assigns(template)
        self.limit = environment().limits.max_output
        plan: _Plan = getattr(template, "crm_plan", _Plan(frozenset(), frozenset()))
        self.reads = sorted(plan.reads)
        self.slots = sorted(plan.slots)
        self.escapes = name.endswith(".html")

    def __call__(self, row: dict[str, Any]) -> str:
        ctx = self.context
        ctx.vars = dict(row) if self.copies else row
        if ctx.exported_vars:
            ctx.exported_vars = set()
        text = "".join(self.root(ctx))
        if len(text) > self.limit:
            raise _too_much(f"the output passed {self.limit:,} characters")
        return text


def _assigns(template: Any) -> bool:
    return bool(getattr(template, "crm_assigns", True))


def _object_column(series: pd.Series | list[Any]) -> list[Any]:
    """A column as Python values with every missing value as ``None`` (printed as nothing)."""
    if isinstance(series, list):
        series = pd.Series(series, dtype=object)
    values = series.to_numpy(dtype=object)
    missing = pd.isna(series).to_numpy()
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values.tolist()


def _render_row(part: _Part, row: dict[str, Any]) -> str:
    budget = environment().budget
    budget.iterations = budget.calls = budget.depth = 0
    try:
        return part(row)
    except Exception as exc:
        error = _fail(exc, part.name)
        error.args = (f"{error.args[0]} (customer {row.get('customer_id')})",)
        raise error from None


def _render_rows(part: _Part, arrays: dict[str, pd.Series]) -> np.ndarray:
    """Every row rendered on its own."""
    names = list(arrays)
    columns = [_object_column(arrays[c]) for c in names]
    out = np.empty(len(arrays["message_key"]), dtype=object)
    out[:] = [
        _render_row(part, dict(zip(names, values, strict=True)))
        for values in zip(*columns, strict=True)
    ]
    return out


_SLOT = "\x00crm-slot-{}\x00"
_SLOT_SPLIT = re.compile("\x00crm-slot-(\\d+)\x00")


def _group_codes(columns: list[pd.Series], n: int) -> np.ndarray:
    """One integer per row, equal where the rows agree on every column."""
    codes = np.zeros(n, dtype=np.int64)
    for values in columns:
        # factorised as stored (Arrow strings stay Arrow): no Python object per row
        column, _ = pd.factorize(values, use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (int(column.max(initial=0)) + 1) + column)
    return codes


def _render_memo(part: _Part, arrays: dict[str, pd.Series]) -> np.ndarray:
    """The rows rendered once per distinct combination of the values the template reads.

    A template is a pure function of the variables it reads (the sandbox has no clock and no
    randomness), so rows that agree on them get the same text. A variable printed only as a
    bare ``{{ name }}`` (a promo code, a link) is a slot: the template is rendered with a
    marker in its place and each row's value, escaped as Jinja2 would, is joined in.
    """
    n = len(arrays["message_key"])
    slots = [c for c in part.slots if c in arrays]
    slot_values = {c: _object_column(arrays[c]) for c in slots}
    for values in slot_values.values():
        if any(isinstance(v, str) and "\x00" in v for v in values):
            return _render_rows(part, arrays)  # a value holding the marker: no shortcut
    keys = [c for c in part.reads if c in arrays and c not in slots]
    codes = _group_codes([arrays[c] for c in keys], n)
    _, first = np.unique(codes, return_index=True)
    names = list(arrays)
    firsts = [_object_column(arrays[c].iloc[first]) for c in names]
    texts: list[str] = []
    for picked in zip(*firsts, strict=True):
        row = dict(zip(names, picked, strict=True))
        row.update({c: _SLOT.format(i) for i, c in enumerate(slots)})
        texts.append(_render_row(part, row))
    if not slots:
        chosen: np.ndarray = np.array(texts, dtype=object)[codes]
        return chosen
    printed = {}
    for c, values in slot_values.items():
        shown = np.empty(n, dtype=object)
        shown[:] = [
            "" if v is None else (str(escape(v)) if part.escapes else str(v)) for v in values
        ]
        printed[c] = shown
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))
    out = np.empty(n, dtype=object)
    for code, text in enumerate(texts):
        rows = order[(bounds[code - 1] if code else 0) : bounds[code]]
        bits = _SLOT_SPLIT.split(text)
        # literal, slot, literal, slot, …, literal: numpy adds the strings column-wise
        joined = np.full(len(rows), bits[0], dtype=object)
        for k in range(1, len(bits), 2):
            joined = joined + printed[slots[int(bits[k])]][rows] + bits[k + 1]
        out[rows] = joined
    return out


def _render_frame(
    contexts: pd.DataFrame,
    templates: Any,
    *,
    as_of: Any,
    secret: str,
    base_url: str,
    email_from: str,
    params: Mapping[str, Any],
    memo: bool = True,
) -> pd.DataFrame:
    """:func:`render_messages` in this process (``memo=False``: every row rendered, the
    reference the memoised path is tested against)."""
    issued_at = pd.Timestamp(as_of)
    sign_click = LinkSigner(secret, "click").at(issued_at)
    sign_unsubscribe = LinkSigner(secret, "unsubscribe").at(issued_at)
    sign_open = LinkSigner(secret, "open").at(issued_at)
    base = base_url.rstrip("/")
    compiled = compile_templates(templates, {**params, "track": _tracker(base, sign_click)})
    n = len(contexts)
    out: dict[str, np.ndarray] = {c: np.full(n, None, dtype=object) for c in OUTPUT_COLUMNS}
    unsubscribe = np.full(n, None, dtype=object)
    channel = contexts["channel"].to_numpy(dtype=object)
    language = contexts["language"].to_numpy(dtype=object)
    columns = [c for c in contexts.columns if c not in LINK_VARIABLES]
    keys = contexts["message_key"].astype(str).to_numpy(dtype=object)
    groups = pd.DataFrame({"c": channel, "l": language}).groupby(["c", "l"], sort=True).indices
    for group, rows in groups.items():
        ch, lang = str(group[0]), str(group[1])  # type: ignore[index]
        templates_here = compiled.get((ch, lang))
        if templates_here is None:
            raise TemplateRenderError(
                f"templates.{ch}.{lang}",
                f"no template for {len(rows):,} recipient(s) on this channel and language",
            )
        parts = [
            _Part(t, _name(ch, lang, part), CHANNEL_PARTS[ch][part])
            for part, t in templates_here.items()
            if part in CHANNEL_PARTS[ch]
        ]
        used = frozenset().union(*(_uses(t) for t in templates_here.values()))
        need_unsub = ch == "email" or "unsubscribe_url" in used
        need_pixel = "open_pixel_url" in used
        sub = contexts.iloc[rows].reset_index(drop=True)
        arrays = {c: sub[c] for c in columns}
        message_keys = keys[rows].tolist()
        arrays["message_key"] = pd.Series(message_keys, dtype=object)
        if need_unsub:
            prefix = f"{base}{UNSUBSCRIBE_PATH}"
            urls = [
                prefix + sign_unsubscribe((key, str(int(customer)), ch))
                for key, customer in zip(message_keys, sub["customer_id"].tolist(), strict=True)
            ]
            arrays["unsubscribe_url"] = pd.Series(urls, dtype=object)
            unsubscribe[rows] = urls
        if need_pixel:
            prefix = f"{base}{OPEN_PATH}"
            pixels = [prefix + sign_open((k,)) + ".gif" for k in message_keys]
            arrays["open_pixel_url"] = pd.Series(pixels, dtype=object)
        for part in parts:
            out[part.column][rows] = (_render_memo if memo else _render_rows)(part, arrays)
    is_sms = channel == "sms"
    if is_sms.any():
        counts = segment_counts(out["sms_text"][is_sms].tolist())
        out["sms_encoding"][is_sms] = counts["sms_encoding"].to_numpy(dtype=object)
        out["sms_segments"][is_sms] = counts["sms_segments"].to_numpy(dtype=object)
    is_email = channel == "email"
    if is_email.any():
        out["mime"][is_email] = build_mime(
            keys[is_email].tolist(),
            contexts["address"].to_numpy(dtype=object)[is_email].tolist(),
            out["subject"][is_email].tolist(),
            out["body_text"][is_email].tolist(),
            out["body_html"][is_email].tolist(),
            unsubscribe[is_email].tolist(),
            email_from=email_from,
            date=issued_at,
        )
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()})
    frame.index = contexts.index
    frame["sms_segments"] = frame["sms_segments"].astype("Int64")
    return frame


def _uses(template: Any) -> frozenset[str]:
    """Names a compiled template reads from its context."""
    used: frozenset[str] = getattr(template, "crm_uses", frozenset())
    return used


#: What the project's filters and functions read from the context besides their arguments.
_IMPLICIT = frozenset({"locale", "currency", "timezone"})


@dataclass(frozen=True)
class _Plan:
    """What a template reads: every context name (``reads``), those printed only as a bare
    ``{{ name }}`` and never assigned (``slots``), and whether it assigns anything."""

    reads: frozenset[str]
    slots: frozenset[str]
    assigns: bool = True


@functools.lru_cache(maxsize=256)
def _plan(name: str, source: str) -> _Plan:
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
    return _Plan(reads, slots, assigns)


_PENDING: dict[str, Any] = {}


def _render_partition(rows: np.ndarray) -> pd.DataFrame:
    """A forked worker's share: the rows at ``rows`` of the frame the parent left in _PENDING."""
    contexts = _PENDING["contexts"].iloc[rows]
    return _render_frame(contexts, _PENDING["templates"], **_PENDING["kwargs"])


def render_messages(
    contexts: pd.DataFrame,
    templates: Any,
    *,
    as_of: Any,
    secret: str,
    base_url: str = "http://127.0.0.1:8000",
    email_from: str = "CRM <noreply@example.com>",
    params: Mapping[str, Any] | None = None,
    processes: int = 1,
) -> pd.DataFrame:
    """Render every message of a frame of contexts: subject and bodies, SMS counts, MIME bytes.

    Parameters
    ----------
    contexts : DataFrame
        One row per message (:func:`campaigns.context.build_contexts`) with ``message_key``,
        ``customer_id``, ``channel`` (``"email"``/``"sms"``), ``language`` and, for email,
        ``address``; every column is a template variable.
    templates : mapping or pydantic model
        ``{"email": {lang: {"subject", "html", "text"}}, "sms": {lang: {"text"}}}``.
    as_of : instant
        The run's instant: the links' signing time and the ``Date`` header, so a rerun and a
        preview give the same bytes.
    secret : str
        The platform's secret key, for the signed links.
    base_url : str
        Where the gateway's ``/u/``, ``/c/`` and ``/o/`` endpoints are.
    email_from : str
        The ``From`` header.
    params : mapping, optional
        Campaign parameters visible to every template (``discount``, ``valid_until``…).
    processes : int
        Worker processes (forked; rows split by a hash of ``customer_id``); 1 renders here.

    Returns
    -------
    DataFrame
        On the index of ``contexts``: ``subject``, ``body_html``, ``body_text`` (email),
        ``sms_text``, ``sms_encoding``, ``sms_segments`` (SMS), ``mime`` (email bytes); the
        other channel's columns are missing.

    Raises
    ------
    TemplateRenderError
        When a template fails for a recipient (the template, line and customer named);
        :class:`~campaigns.errors.TemplateResourceError` when one exceeds the limits.
    """
    missing = [
        c for c in ("message_key", "customer_id", "channel", "language") if c not in contexts
    ]
    if (
        "channel" in contexts
        and (contexts["channel"] == "email").any()
        and "address" not in contexts
    ):
        missing.append("address")
    if missing:
        raise KeyError(f"contexts are missing column(s) {missing}; build them with build_contexts")
    kwargs = {
        "as_of": as_of,
        "secret": secret,
        "base_url": base_url,
        "email_from": email_from,
        "params": dict(params or {}),
    }
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if processes <= 1 or len(contexts) < 2 * processes or not can_fork:
        return _render_frame(contexts, templates, **kwargs)
    bucket = pd.util.hash_array(contexts["customer_id"].to_numpy()) % np.uint64(processes)
    shares = [np.flatnonzero(bucket == i) for i in range(processes)]
    _PENDING.update(contexts=contexts, templates=templates, kwargs=kwargs)
    try:
        # the workers fork with the frame in memory (nothing pickled on the way in); this
        # process renders the first share itself while they render the others
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes - 1, mp_context=context) as pool:
            others = pool.map(_render_partition, shares[1:])
            frames = [_render_partition(shares[0]), *others]
    finally:
        _PENDING.clear()
    order = np.argsort(np.concatenate(shares), kind="stable")
    result = pd.concat(frames, ignore_index=True).iloc[order]
    result.index = contexts.index
    return result


def render_one(context: Mapping[str, Any], templates: Any, **kwargs: Any) -> dict[str, Any]:
    """One message for one recipient (``crm campaign preview``): :func:`render_messages` on a
    one-row frame, so the preview is byte for byte what the send path queues."""
    frame = pd.DataFrame([dict(context)])
    row = render_messages(frame, templates, **{**kwargs, "processes": 1}).iloc[0]
    return {column: (None if pd.isna(row[column]) else row[column]) for column in OUTPUT_COLUMNS}
