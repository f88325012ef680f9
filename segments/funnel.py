"""Funnel analytics: inquiry → verified lead → deal → sale, per source/channel and per stage (D3).

:func:`lead_funnel` counts, per group of leads (``source``, ``channel``…), every step of the
lead lifecycle (D2) and the conversions between them:

==============  ===================================================================
inquiries       every lead (every inquiry from every channel, D4)
disqualified    status ``disqualified`` or ``spam`` (not target leads; never "lost")
pending         target leads not yet verified (status ``new``, no deal)
verified        qualified target leads: status ``verified``/``converted``, or a deal
deals           verified leads with at least one deal
won             leads with a won deal
lost            leads whose deals are all lost (a target lead that did not buy)
open            leads with deals, none won, at least one still open
==============  ===================================================================

Rates: ``inquiry_to_verified = verified / inquiries``, ``verified_to_deal = deals /
verified``, ``deal_to_won = won / deals`` (open deals count against it; ``win_rate =
won / (won + lost)`` is the closed-deal view), ``inquiry_to_won = won / inquiries`` and
``disqualified_rate``. Deals of disqualified leads are not counted (D2). A lead counts once
per step however many deals it has.

:func:`stage_funnel` shows where deals stop inside each pipeline: how many reached each
stage (a deal at position *p*, or won, passed every stage before it), how many sit there
now, how many were lost there and the share that moved on. Without a stage history a lost
deal's last stage is unknown; it is reported on the ``lost`` row, not guessed.

Example
-------
>>> table = lead_funnel(leads, deals, by=("source",))
>>> print(funnel_report(table))
>>> stage_funnel(deals, pipeline_stages)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm.columns import DEAL_ID, LEAD_ID, STATUS
from segments.errors import InvalidParameterError, require_columns

__all__ = [
    "COUNT_COLUMNS",
    "RATE_COLUMNS",
    "funnel_report",
    "lead_funnel",
    "stage_funnel",
]

#: Count columns of :func:`lead_funnel`, in funnel order.
COUNT_COLUMNS: tuple[str, ...] = (
    "inquiries",
    "disqualified",
    "pending",
    "verified",
    "deals",
    "won",
    "lost",
    "open",
)
#: Rate columns of :func:`lead_funnel`.
RATE_COLUMNS: tuple[str, ...] = (
    "disqualified_rate",
    "inquiry_to_verified",
    "verified_to_deal",
    "deal_to_won",
    "win_rate",
    "inquiry_to_won",
)
_DISQUALIFIED = ("disqualified", "spam")
_QUALIFIED = ("verified", "converted")
_STAGE_ID = "stage_id"
_PIPELINE_ID = "pipeline_id"


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype(float)
    return (num / den.where(den > 0)).astype(float)


def lead_funnel(
    leads: pd.DataFrame,
    deals: pd.DataFrame,
    by: Sequence[str] = ("source",),
    *,
    total: bool = False,
) -> pd.DataFrame:
    """Lead-lifecycle counts and conversion rates per group of leads.

    Parameters
    ----------
    leads : pandas.DataFrame
        ``lead_id``, ``status`` and the ``by`` columns.
    deals : pandas.DataFrame
        ``lead_id`` and ``status`` (``open``/``won``/``lost``); deals without a lead are
        ignored.
    by : sequence of str
        Lead columns to group by (``()`` for one row over all leads). A missing value is its
        own group (``"(missing)"``).
    total : bool
        Append an ``"all"`` row over every lead.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, :data:`COUNT_COLUMNS` and :data:`RATE_COLUMNS` (NaN where the
        denominator is 0), sorted by the ``by`` columns.

    >>> leads = pd.DataFrame({"lead_id": [1, 2, 3], "status": ["converted", "spam", "new"],
    ...                       "source": ["call", "call", "call"]})
    >>> deals = pd.DataFrame({"lead_id": [1], "status": ["won"]})
    >>> lead_funnel(leads, deals)[["inquiries", "disqualified", "verified", "won"]].values.tolist()
    [[3, 1, 1, 1]]
    """
    by = list(by)
    require_columns(leads, [LEAD_ID, STATUS, *by], "leads")
    require_columns(deals, [LEAD_ID, STATUS], "deals")
    bad = [c for c in by if c in COUNT_COLUMNS or c in RATE_COLUMNS]
    if bad:
        raise InvalidParameterError("by", tuple(by), "lead columns other than the funnel's own")
    status = leads[STATUS].astype("str")
    disq = status.isin(_DISQUALIFIED).to_numpy(dtype=bool)

    d = pd.DataFrame(
        {
            LEAD_ID: deals[LEAD_ID].to_numpy(),
            "won": (deals[STATUS].astype("str") == "won").to_numpy(dtype=bool),
            "open": (deals[STATUS].astype("str") == "open").to_numpy(dtype=bool),
        }
    ).dropna(subset=[LEAD_ID])
    per = d.groupby(LEAD_ID).agg(won=("won", "any"), open=("open", "any"))
    pos = per.index.get_indexer(pd.Index(leads[LEAD_ID]))
    has_deal = (pos >= 0) & ~disq
    # position -1 (no deal) reads the appended False slot, which also makes no deals at all work
    won = has_deal & np.append(per["won"].to_numpy(dtype=bool), False)[pos]
    open_ = has_deal & ~won & np.append(per["open"].to_numpy(dtype=bool), False)[pos]
    verified = ~disq & (status.isin(_QUALIFIED).to_numpy(dtype=bool) | has_deal)

    flags = pd.DataFrame(
        {
            "inquiries": 1,
            "disqualified": disq,
            "pending": ~disq & ~verified,
            "verified": verified,
            "deals": has_deal,
            "won": won,
            "lost": has_deal & ~won & ~open_,
            "open": open_,
        },
        index=leads.index,
    ).astype(np.int64)
    if by:
        keys = [leads[c].astype("str").fillna("(missing)").rename(c) for c in by]
        out = flags.groupby(keys, sort=True).sum().reset_index()
    else:
        out = flags.sum().to_frame().T
    if total and by:
        row = flags.sum().to_frame().T
        for c in by:
            row.insert(by.index(c), c, "all")
        out = pd.concat([out, row], ignore_index=True)
    out["disqualified_rate"] = _ratio(out["disqualified"], out["inquiries"])
    out["inquiry_to_verified"] = _ratio(out["verified"], out["inquiries"])
    out["verified_to_deal"] = _ratio(out["deals"], out["verified"])
    out["deal_to_won"] = _ratio(out["won"], out["deals"])
    out["win_rate"] = _ratio(out["won"], out["won"] + out["lost"])
    out["inquiry_to_won"] = _ratio(out["won"], out["inquiries"])
    return out


def stage_funnel(
    deals: pd.DataFrame,
    stages: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per pipeline and stage: deals that reached it, sit there, were lost there, moved on.

    Parameters
    ----------
    deals : pandas.DataFrame
        ``deal_id``, ``pipeline_id``, ``stage_id``, ``status``.
    stages : pandas.DataFrame
        ``stage_id``, ``pipeline_id``, ``name``, ``position``, ``is_won``, ``is_lost``.
    history : pandas.DataFrame, optional
        ``deal_id``, ``stage_id``: every stage a deal has been in. With it, a lost deal's
        furthest open stage is known and its loss is shown on that stage.

    Returns
    -------
    pandas.DataFrame
        One row per stage, by pipeline and position: ``pipeline_id, stage_id, stage,
        position, reached, current, lost_here, advanced, drop_off, conversion_to_next``.
        A deal *reached* a working stage when its furthest stage is at or after it (won
        deals reached all of them); ``advanced`` = reached the next working stage (or won,
        after the last one); ``drop_off = reached − advanced``. The won row counts wins;
        the lost row counts lost deals whose last working stage is unknown.
    """
    require_columns(deals, [DEAL_ID, _PIPELINE_ID, _STAGE_ID, STATUS], "deals")
    require_columns(
        stages, [_STAGE_ID, _PIPELINE_ID, "name", "position", "is_won", "is_lost"], "stages"
    )
    st = stages.sort_values([_PIPELINE_ID, "position"], kind="stable").reset_index(drop=True)
    is_won = st["is_won"].astype(bool).to_numpy()
    is_lost = st["is_lost"].astype(bool).to_numpy()
    working = ~is_won & ~is_lost
    # rank of each working stage inside its pipeline: 0, 1, 2 …
    rank = pd.Series(np.where(working, 1, 0)).groupby(st[_PIPELINE_ID]).cumsum().to_numpy() - 1
    n_working = pd.Series(working).groupby(st[_PIPELINE_ID].to_numpy()).sum()

    stage_pos = pd.Index(st[_STAGE_ID]).get_indexer(deals[_STAGE_ID])
    pipeline = deals[_PIPELINE_ID].to_numpy()
    status = deals[STATUS].astype("str").to_numpy(dtype=object)
    top = n_working.reindex(pipeline).to_numpy(dtype=float) - 1  # last working rank
    furthest = np.where(stage_pos >= 0, rank[np.maximum(stage_pos, 0)], -1).astype(float)
    furthest = np.where(working[np.maximum(stage_pos, 0)] & (stage_pos >= 0), furthest, np.nan)
    furthest = np.where(status == "won", top, furthest)
    if history is not None:
        require_columns(history, [DEAL_ID, _STAGE_ID], "history")
        hpos = pd.Index(st[_STAGE_ID]).get_indexer(history[_STAGE_ID])
        ok = (hpos >= 0) & working[np.maximum(hpos, 0)]
        best = (
            pd.Series(rank[hpos[ok]].astype(float)).groupby(history[DEAL_ID].to_numpy()[ok]).max()
        )
        seen = best.reindex(deals[DEAL_ID].to_numpy()).to_numpy()
        furthest = np.fmax(furthest, seen)
    lost = status == "lost"
    frame = pd.DataFrame(
        {
            "p": pipeline,
            "furthest": furthest,
            "lost": lost,
            "open": status == "open",
            "won": status == "won",
        }
    )
    # reached[stage r] = deals with furthest >= r: a reverse cumulative count per pipeline
    known = frame.dropna(subset=["furthest"])
    at = known.groupby(["p", "furthest"]).agg(
        n=("won", "size"), won_at=("won", "sum"), current=("open", "sum"), lost_here=("lost", "sum")
    )
    key = pd.MultiIndex.from_arrays([st[_PIPELINE_ID].to_numpy(), rank.astype(float)])
    at = at.reindex(key, fill_value=0)
    n_at = at["n"].to_numpy()
    reached = (
        pd.Series(n_at[::-1] * working[::-1]).groupby(st[_PIPELINE_ID].to_numpy()[::-1]).cumsum()
    ).to_numpy()[::-1]
    wins = frame.groupby("p")["won"].sum().reindex(st[_PIPELINE_ID].to_numpy(), fill_value=0)
    unknown_lost = (
        frame[frame["lost"] & frame["furthest"].isna()]
        .groupby("p")
        .size()
        .reindex(st[_PIPELINE_ID].to_numpy(), fill_value=0)
    )
    # a deal whose furthest stage is r went past every stage before r; won deals sit on the
    # last working stage (furthest = top) and are the ones that went past it
    advanced = reached - n_at + at["won_at"].to_numpy()
    out = pd.DataFrame(
        {
            _PIPELINE_ID: st[_PIPELINE_ID].to_numpy(),
            _STAGE_ID: st[_STAGE_ID].to_numpy(),
            "stage": st["name"].astype("str").to_numpy(),
            "position": st["position"].to_numpy(),
            "reached": np.where(working, reached, np.where(is_won, wins, unknown_lost)),
            "current": np.where(working, at["current"].to_numpy(), 0),
            "lost_here": np.where(
                working, at["lost_here"].to_numpy(), np.where(is_lost, unknown_lost, 0)
            ),
            "advanced": np.where(working, advanced, 0),
        }
    )
    for col in ("reached", "current", "lost_here", "advanced"):
        out[col] = out[col].astype(np.int64)
    out["drop_off"] = np.where(working, out["reached"] - out["advanced"], 0)
    out["conversion_to_next"] = np.where(
        working & (out["reached"] > 0),
        out["advanced"] / out["reached"].where(out["reached"] > 0),
        np.nan,
    )
    return out


def funnel_report(frame: pd.DataFrame, *, title: str | None = None) -> str:
    """A funnel frame (:func:`lead_funnel` or :func:`stage_funnel`) as a markdown table.

    Counts are printed with thousands separators, rates as percentages (one decimal),
    missing rates as ``–``.
    """
    rates = [c for c in frame.columns if c in RATE_COLUMNS or c == "conversion_to_next"]
    lines = [f"### {title}", ""] if title else []
    cols = list(frame.columns)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in cols]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    text = pd.DataFrame(index=frame.index)
    for c, n in zip(cols, numeric, strict=True):
        values = frame[c]
        if c in rates:
            text[c] = values.map(lambda v: "–" if pd.isna(v) else f"{v:.1%}")
        elif n and c not in (_PIPELINE_ID, _STAGE_ID, "position"):
            text[c] = values.map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
        else:
            text[c] = values.astype("str").fillna("–")
    body = ("| " + text.agg(" | ".join, axis=1) + " |").tolist() if len(text) else []
    return "\n".join([*lines, *body, ""])
