"""Checking templates before anything is sent, and the preview of one message.

:func:`check_templates` finds every problem of a campaign's templates with its line (syntax,
unknown variables with the closest name, unknown filters, forbidden attributes, and what a
sample render under the limits runs into). :func:`render_one` is the preview: the batch
renderer (:func:`campaigns.batch.render_messages`) on a one-row frame, so a preview is byte
for byte what the send path queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from jinja2 import TemplateSyntaxError, meta, nodes

from campaigns.batch import OUTPUT_COLUMNS, render_messages
from campaigns.context import LOCALES, sample_context
from campaigns.errors import TemplateRenderError
from campaigns.links import LinkSigner
from campaigns.sandbox import (
    _BLOCKED_METHODS,
    CHANNEL_PARTS,
    LINK_VARIABLES,
    _as_mapping,
    _name,
    _render,
    _tracker,
    compile_templates,
    environment,
)
from crm.definitions import Problem, closest

__all__ = ["check_templates", "render_one"]


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


def render_one(context: Mapping[str, Any], templates: Any, **kwargs: Any) -> dict[str, Any]:
    """One message for one recipient (``crm campaign preview``): :func:`render_messages` on a
    one-row frame, so the preview is byte for byte what the send path queues."""
    frame = pd.DataFrame([dict(context)])
    row = render_messages(frame, templates, **{**kwargs, "processes": 1}).iloc[0]
    return {column: (None if pd.isna(row[column]) else row[column]) for column in OUTPUT_COLUMNS}
