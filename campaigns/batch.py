"""Batch rendering: a frame of contexts in, subject, bodies, SMS counts and MIME bytes out (C4).

:func:`render_messages` renders a frame of contexts (:mod:`campaigns.context`) with the one
sandboxed environment (:mod:`campaigns.sandbox`): templates compile once per run; within each
(channel, language) group a part is rendered once per distinct combination of the context
values it reads (a template is a pure function of them: the sandbox has no clock and no
randomness), from the columns zipped (no ``to_dict('records')``), and a value printed only as
a bare ``{{ name }}`` (a promo code, a link) is joined in column-wise after rendering, escaped
as Jinja2 would. ``_render_frame(..., memo=False)`` renders every row instead; a test holds
the two equal. With ``processes > 1`` the rows split across worker processes by a hash of the
customer id: the workers fork with the frame in memory, and when the system refuses to fork
(ENOMEM), they come from a fork server and get their shares pickled. The same function serves
preview and send (:func:`campaigns.preview.render_one`), so the bytes a marketer previews are
the bytes queued.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import escape

from campaigns.errors import TemplateRenderError
from campaigns.links import OPEN_PATH, UNSUBSCRIBE_PATH, LinkSigner
from campaigns.mime import build_mime
from campaigns.sandbox import (
    CHANNEL_PARTS,
    LINK_VARIABLES,
    Plan,
    _fail,
    _name,
    _too_much,
    _tracker,
    _uses,
    compile_templates,
    environment,
)
from campaigns.sms import segment_counts, text_stats

__all__ = ["OUTPUT_COLUMNS", "render_messages"]

OUTPUT_COLUMNS = (
    "subject",
    "body_html",
    "body_text",
    "sms_text",
    "sms_encoding",
    "sms_segments",
    "mime",
)


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
        plan: Plan = getattr(template, "crm_plan", Plan(frozenset(), frozenset()))
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


def _printed(values: list[Any], escapes: bool) -> np.ndarray | None:
    """What ``{{ v }}`` prints for each value (escaped for HTML), column-wise; ``None`` when
    a value holds the slot marker's NUL (then the rows are rendered one by one)."""
    shown = np.empty(len(values), dtype=object)
    if not set(map(type, values)) <= {str, type(None)}:
        # numbers, dates…: what Jinja2 prints, value by value
        shown[:] = ["" if v is None else (str(escape(v)) if escapes else str(v)) for v in values]
        return None if any("\x00" in v for v in shown) else shown
    text = "\x00".join(["" if v is None else v for v in values])
    if text.count("\x00") != len(values) - 1:
        return None
    if escapes:  # markupsafe.escape on the whole column at once, in its order
        text = (
            text.replace("&", "&amp;")
            .replace(">", "&gt;")
            .replace("<", "&lt;")
            .replace("'", "&#39;")
            .replace('"', "&#34;")
        )
    shown[:] = text.split("\x00")
    return shown


def _render_memo(
    part: _Part, arrays: dict[str, pd.Series], *, stats: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows rendered once per distinct combination of the values the template reads.

    A template is a pure function of the variables it reads (the sandbox has no clock and no
    randomness), so rows that agree on them get the same text. A variable printed only as a
    bare ``{{ name }}`` (a promo code, a link) is a slot: the template is rendered with a
    marker in its place and each row's value, escaped as Jinja2 would, is joined in
    column-wise. With ``stats``, the texts' :func:`campaigns.sms.text_stats` come along,
    added up from each distinct text's fixed part and the slot values (no pass over the
    rendered texts).
    """
    n = len(arrays["message_key"])
    slots = [c for c in part.slots if c in arrays]
    printed = {}
    for c in slots:
        shown = _printed(_object_column(arrays[c]), part.escapes)
        if shown is None:  # a value holding the marker: no shortcut
            texts_ = _render_rows(part, arrays)
            return texts_, (text_stats(texts_.tolist()) if stats else None)
        printed[c] = shown
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
        return chosen, (text_stats(texts)[codes] if stats else None)
    pieces = [_SLOT_SPLIT.split(text) for text in texts]
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))
    out = np.empty(n, dtype=object)
    for code, bits in enumerate(pieces):
        rows = order[(bounds[code - 1] if code else 0) : bounds[code]]
        # literal, slot, literal, slot, …, literal: numpy adds the strings column-wise
        joined = np.full(len(rows), bits[0], dtype=object)
        for k in range(1, len(bits), 2):
            joined = joined + printed[slots[int(bits[k])]][rows] + bits[k + 1]
        out[rows] = joined
    if not stats:
        return out, None
    # the fixed text of each distinct message, plus each slot's value as often as it is printed
    total = text_stats(["".join(bits[::2]) for bits in pieces])[codes]
    printed_times = np.zeros((len(pieces), len(slots)), dtype=np.int64)
    for code, bits in enumerate(pieces):
        for k in range(1, len(bits), 2):
            printed_times[code, int(bits[k])] += 1
    for i, c in enumerate(slots):
        times = printed_times[codes, i]
        if times.any():
            total += times[:, None] * text_stats(printed[c].tolist())
    return out, total


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
    sms_stats = np.zeros((n, 4), dtype=np.int64)  # campaigns.sms.text_stats of each SMS
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
            if not memo:
                out[part.column][rows] = _render_rows(part, arrays)
                continue
            texts, stats = _render_memo(part, arrays, stats=part.column == "sms_text")
            out[part.column][rows] = texts
            if stats is not None:
                sms_stats[rows] = stats
    is_sms = channel == "sms"
    if is_sms.any():
        texts = out["sms_text"][is_sms].tolist()
        known = sms_stats[is_sms]
        counts = segment_counts(texts, stats=known if memo else None)
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


_PENDING: dict[str, Any] = {}


def _render_partition(rows: np.ndarray) -> pd.DataFrame:
    """A forked worker's share: the rows at ``rows`` of the frame the parent left in _PENDING."""
    contexts = _PENDING["contexts"].iloc[rows]
    return _render_frame(contexts, _PENDING["templates"], **_PENDING["kwargs"])


def _render_share(contexts: pd.DataFrame, templates: Any, kwargs: dict[str, Any]) -> pd.DataFrame:
    """A fork server's worker's share, sent pickled."""
    return _render_frame(contexts, templates, **kwargs)


def _start_workers(
    contexts: pd.DataFrame, templates: Any, kwargs: dict[str, Any], shares: list[np.ndarray]
) -> tuple[ProcessPoolExecutor, list[Future[pd.DataFrame]]]:
    """Workers rendering ``shares``: forked with the frame in memory, or from a fork server.

    Forking copies this process's mappings, and the kernel may refuse (ENOMEM; seen in a test
    run's worker process after a thousand tests): a fork server is a small process of its
    own, so its workers fork cheaply, at the cost of pickling their shares (about a fifth of
    the render's time at 1M messages).
    """
    workers = len(shares)
    if "fork" in multiprocessing.get_all_start_methods():
        # the parent's frame is what the forked workers read: nothing pickled on the way in
        _PENDING.update(contexts=contexts, templates=templates, kwargs=kwargs)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        try:
            return pool, [pool.submit(_render_partition, rows) for rows in shares]
        except OSError:
            pool.shutdown(wait=False, cancel_futures=True)
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(workers, mp_context=context)
    return pool, [
        pool.submit(_render_share, contexts.iloc[rows], templates, kwargs) for rows in shares
    ]


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
        Worker processes (rows split by a hash of ``customer_id``); 1 renders here.

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
    if processes <= 1 or len(contexts) < 2 * processes:
        return _render_frame(contexts, templates, **kwargs)
    bucket = pd.util.hash_array(contexts["customer_id"].to_numpy()) % np.uint64(processes)
    shares = [np.flatnonzero(bucket == i) for i in range(processes)]
    try:
        # this process renders the first share while the workers render the others
        pool, others = _start_workers(contexts, templates, kwargs, shares[1:])
        with pool:
            frames = [_render_frame(contexts.iloc[shares[0]], templates, **kwargs)]
            frames += [future.result() for future in others]
    finally:
        _PENDING.clear()
    order = np.argsort(np.concatenate(shares), kind="stable")
    result = pd.concat(frames, ignore_index=True).iloc[order]
    result.index = contexts.index
    return result
