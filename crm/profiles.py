"""One row per customer: the consumer portrait that segments, scores and campaigns read (S2).

:func:`build_profiles` joins what the base knows about each active customer — orders,
deals, leads, activities, marketing events, contact points, consents, suppressions, tags and
loyalty — into one wide frame, as of an explicit moment. Everything is a grouped numpy or
pandas aggregation over whole frames (no loop over customers), so 1M customers with 10M
orders take seconds.

Rules, so a marketer can check a number by hand
-----------------------------------------------
* Only facts up to ``as_of`` count; later rows are ignored (a rerun for a past date gives
  that date's profile).
* ``orders``/``revenue``/``avg_order_value``/``first_order_at``/``last_order_at`` count
  **paid** orders; ``returns`` counts returned ones; cancelled orders count nowhere.
* ``favourite_category`` is the category with the most paid spend (ties: alphabetical).
* Windowed counts (``activities_90d``, ``events_opened_90d``…) cover the ``window_days``
  days before ``as_of`` (default 90).
* ``email_consent``/``sms_consent`` are the latest consent record of that channel up to
  ``as_of`` (a withdrawal after a grant wins); no record means no consent.
* ``has_email`` needs a valid email contact point; ``has_mobile`` a valid phone whose type
  is mobile (or not yet known, before hygiene ran). An email or SMS suppression in force
  (channel or ``all`` scope) makes ``reachable_email``/``reachable_sms`` false, as do an
  unsubscribe or a hard bounce in the events.
* Disqualified and spam leads (D2) are not counted in ``leads`` and never set
  ``lead_status``; ``lead_status`` is the status of the customer's latest target lead.
* Merged duplicates (``status='duplicate'``) have no profile: their facts were moved to the
  survivor by the merge.

Example
-------
>>> profiles = build_profiles({"customers": customers, "orders": orders}, as_of=as_of)
>>> profiles.loc[42, ["orders", "revenue", "favourite_category"]]
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crm.columns import AMOUNT, CUSTOMER_ID, OCCURRED_AT, ORDERED_AT, STATUS

__all__ = [
    "PROFILE_COLUMNS",
    "build_profiles",
    "customer_partition",
    "partition_condition",
    "partition_tables",
]

#: The customer columns carried over as they are.
_CUSTOMER_FIELDS = (
    "company_id",
    "external_id",
    "first_name",
    "last_name",
    "middle_name",
    "gender",
    "birth_date",
    "job_title",
    "city",
    "timezone",
    "language",
    "source",
    "lifecycle_stage",
    "owner",
    "is_loyalty_member",
    "created_at",
)

#: Every column :func:`build_profiles` returns, in order (besides the ``customer_id`` index).
PROFILE_COLUMNS: tuple[str, ...] = (
    *_CUSTOMER_FIELDS,
    "orders",
    "revenue",
    "avg_order_value",
    "returns",
    "first_order_at",
    "last_order_at",
    "days_since_last_order",
    "tenure_days",
    "favourite_category",
    "categories",
    "deals_open",
    "deals_won",
    "deals_lost",
    "won_amount",
    "last_won_at",
    "leads",
    "lead_status",
    "activities_90d",
    "last_activity_at",
    "events_sent_90d",
    "events_opened_90d",
    "events_clicked_90d",
    "last_engaged_at",
    "last_active_at",
    "days_since_last_activity",
    "email",
    "phone",
    "has_email",
    "has_mobile",
    "email_consent",
    "sms_consent",
    "unsubscribed",
    "hard_bounced",
    "reachable_email",
    "reachable_sms",
    "tags",
    "points_balance",
    "tier",
)

_US_PER_DAY = 86_400_000_000
_HARD_BOUNCE = ("hard", "hard_bounce", "permanent", "5")


def _utc(value: dt.date | dt.datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``as_of`` as a UTC timestamp; a bare date means the end of that day."""
    ts = pd.Timestamp(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    s = frame[column]
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    return s.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _upto(frame: pd.DataFrame | None, column: str, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """Rows of ``frame`` dated up to ``as_of`` (``None`` for an absent or empty frame)."""
    if frame is None or len(frame) == 0 or CUSTOMER_ID not in frame.columns:
        return None
    frame = frame[frame[CUSTOMER_ID].notna()]
    if column not in frame.columns:
        return frame
    t = _times(frame, column)
    keep = (t <= as_of).to_numpy()
    out = frame.loc[keep].copy()
    out[column] = t[keep]
    return out


def _days(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    """Whole days from ``earlier`` to ``later`` (nullable Int64, NA where ``earlier`` is NaT)."""
    delta = (later - earlier).dt.total_seconds() // 86_400
    return delta.astype("Int64")


def _count(frame: pd.DataFrame | None, mask: Any = None) -> pd.Series:
    if frame is None:
        return pd.Series(dtype="int64")
    ids = frame[CUSTOMER_ID] if mask is None else frame.loc[mask, CUSTOMER_ID]
    return ids.value_counts(sort=False)


_ORDER_COLUMNS = (
    "orders",
    "revenue",
    "returns",
    "first_order_at",
    "last_order_at",
    "favourite_category",
    "categories",
)

#: Above this many customer × category cells the favourite category is found by a groupby.
_SPEND_CELLS = 50_000_000


def _order_part(orders: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Paid orders, revenue, first/last order, returns and categories per customer.

    Plain numpy over codes of the customer ids (``bincount``, ``minimum.at``): a pandas
    groupby per measure is several times slower on 10M orders (bench/results/profiles.md).
    """
    if orders is None:
        return pd.DataFrame(columns=list(_ORDER_COLUMNS))
    codes, uniques = pd.factorize(orders[CUSTOMER_ID], sort=False)
    k = len(uniques)
    if STATUS in orders.columns:
        status = orders[STATUS].to_numpy()
        paid = status == "paid"
        returned = status == "returned"
    else:
        paid = np.ones(len(orders), dtype=bool)
        returned = np.zeros(len(orders), dtype=bool)
    pc = codes[paid]
    amount = orders[AMOUNT].to_numpy(dtype=np.float64)
    times = orders[ORDERED_AT].to_numpy(dtype="datetime64[us]").view(np.int64)
    count = np.bincount(pc, minlength=k)
    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, pc, times[paid])
    np.maximum.at(last, pc, times[paid])
    none = count == 0

    def instants(values: np.ndarray) -> pd.Series:
        out = pd.Series(values.view("datetime64[us]"), index=uniques).dt.tz_localize("UTC")
        return out.mask(none)

    part = pd.DataFrame(
        {
            "orders": count,
            "revenue": np.bincount(pc, weights=amount[paid], minlength=k),
            "returns": np.bincount(codes[returned], minlength=k),
            "first_order_at": instants(first),
            "last_order_at": instants(last),
        },
        index=pd.Index(uniques, name=CUSTOMER_ID),
    )
    if "category" in orders.columns:
        favourite, categories = _categories(orders, codes, k, paid, amount)
        part["favourite_category"] = favourite
        part["categories"] = categories
    else:
        part["favourite_category"] = None
        part["categories"] = 0
    return part


def _categories(
    orders: pd.DataFrame, codes: np.ndarray, k: int, paid: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The category with the most paid spend (ties: alphabetical) and how many were bought."""
    cat, names = pd.factorize(orders["category"], sort=True)  # codes in alphabetical order
    keep = paid & (cat >= 0)
    n_cat = max(len(names), 1)
    if k * n_cat <= _SPEND_CELLS:
        cell = codes[keep].astype(np.int64) * n_cat + cat[keep]
        spend = np.bincount(cell, weights=amount[keep], minlength=k * n_cat).reshape(k, n_cat)
        bought = np.bincount(cell, minlength=k * n_cat).reshape(k, n_cat) > 0
        top = spend.argmax(axis=1)  # the first (alphabetical) of equal maxima
        has = bought.any(axis=1)
        favourite = np.asarray(names, dtype=object)[top]
        favourite[~has] = None
        return favourite, np.asarray(bought.sum(axis=1))
    # many categories: group the (customer, category) pairs instead of a dense matrix
    pairs = pd.DataFrame({"c": codes[keep], "cat": cat[keep], "amount": amount[keep]})
    totals = pairs.groupby(["c", "cat"], sort=False)["amount"].sum().reset_index()
    totals = totals.sort_values(["c", "amount", "cat"], ascending=[True, False, True])
    best = totals.drop_duplicates("c").set_index("c")["cat"]
    chosen = pd.Series(np.asarray(names, dtype=object)[best.to_numpy()], index=best.index)
    counts = totals["c"].value_counts(sort=False)
    return (
        chosen.reindex(range(k)).to_numpy(dtype=object),
        counts.reindex(range(k), fill_value=0).to_numpy(),
    )


def _deal_part(deals: pd.DataFrame | None) -> pd.DataFrame:
    if deals is None:
        return pd.DataFrame(columns=["deals_open", "deals_won", "deals_lost", "won_amount"])
    status = deals[STATUS]
    won = deals.loc[(status == "won").to_numpy()]
    part = pd.DataFrame(
        {
            "deals_open": _count(deals, (status == "open").to_numpy()),
            "deals_won": _count(deals, (status == "won").to_numpy()),
            "deals_lost": _count(deals, (status == "lost").to_numpy()),
            "won_amount": won.groupby(CUSTOMER_ID, sort=False)[AMOUNT].sum(),
        }
    )
    if "closed_at" in won.columns:
        part["last_won_at"] = won.groupby(CUSTOMER_ID, sort=False)["closed_at"].max()
    return part


def _lead_part(leads: pd.DataFrame | None) -> pd.DataFrame:
    if leads is None:
        return pd.DataFrame(columns=["leads", "lead_status"])
    target = leads.loc[~leads[STATUS].isin(("disqualified", "spam")).to_numpy()]
    latest = target.sort_values([CUSTOMER_ID, "created_at"]).drop_duplicates(
        CUSTOMER_ID, keep="last"
    )
    return pd.DataFrame(
        {
            "leads": target[CUSTOMER_ID].value_counts(sort=False),
            "lead_status": latest.set_index(CUSTOMER_ID)[STATUS],
        }
    )


def _event_part(events: pd.DataFrame | None, since: pd.Timestamp) -> pd.DataFrame:
    cols = ["events_sent_90d", "events_opened_90d", "events_clicked_90d", "last_engaged_at"]
    if events is None:
        return pd.DataFrame(columns=[*cols, "unsubscribed", "hard_bounced"])
    kind = events["kind"]
    recent = (events[OCCURRED_AT] >= since).to_numpy()
    engaged = kind.isin(("opened", "clicked")).to_numpy()
    detail = (
        events["detail"].astype("str").str.casefold()
        if "detail" in events.columns
        else pd.Series("", index=events.index)
    )
    hard = (kind == "bounced").to_numpy() & detail.str.startswith(_HARD_BOUNCE).to_numpy()
    return pd.DataFrame(
        {
            "events_sent_90d": _count(events, recent & (kind == "sent").to_numpy()),
            "events_opened_90d": _count(events, recent & (kind == "opened").to_numpy()),
            "events_clicked_90d": _count(events, recent & (kind == "clicked").to_numpy()),
            "last_engaged_at": events.loc[engaged]
            .groupby(CUSTOMER_ID, sort=False)[OCCURRED_AT]
            .max(),
            "unsubscribed": _count(events, (kind == "unsubscribed").to_numpy()) > 0,
            "hard_bounced": _count(events, hard) > 0,
        }
    )


def _primary(points: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The best contact point of one kind per customer: valid first, then primary, then newest."""
    rows = points.loc[(points["kind"] == kind).to_numpy()]
    value = rows["value"]
    if "normalized" in rows.columns:
        # an all-NULL column (hygiene not run yet) may read back with a guessed non-text type
        norm = rows["normalized"].astype(object)
        value = norm.where(norm.notna(), value)
    valid = (
        rows["is_valid"].fillna(True).astype(bool)
        if "is_valid" in rows.columns
        else pd.Series(True, index=rows.index)
    )
    # a phone whose type hygiene has not set yet may be a mobile; a known fixed line is not
    if "phone_type" in rows.columns:
        ptype = rows["phone_type"]
        mobile = ptype.isna() | ptype.isin(("mobile", "fixed_or_mobile"))
    else:
        mobile = pd.Series(True, index=rows.index)
    frame = pd.DataFrame(
        {
            CUSTOMER_ID: rows[CUSTOMER_ID],
            "value": value,
            "valid": valid.to_numpy(),
            "mobile": mobile.to_numpy(),
            "primary": rows["is_primary"].fillna(False).astype(bool).to_numpy()
            if "is_primary" in rows.columns
            else True,
            "created_at": rows["created_at"] if "created_at" in rows.columns else pd.NaT,
        }
    )
    frame = frame.sort_values(
        [CUSTOMER_ID, "valid", "primary", "created_at"], ascending=[True, False, False, False]
    )
    return frame.drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)


def _contact_part(points: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["email", "phone", "has_email", "has_mobile"]
    if points is None:
        return pd.DataFrame(columns=cols)
    email = _primary(points, "email")
    phone = _primary(points, "phone")
    return pd.DataFrame(
        {
            "email": email["value"],
            "phone": phone["value"],
            "has_email": email["valid"],
            "has_mobile": phone["valid"] & phone["mobile"],
        }
    )


def _consent_part(consents: pd.DataFrame | None) -> pd.DataFrame:
    if consents is None:
        return pd.DataFrame(columns=["email_consent", "sms_consent"])
    latest = consents.sort_values([CUSTOMER_ID, "channel", "recorded_at"]).drop_duplicates(
        [CUSTOMER_ID, "channel"], keep="last"
    )
    wide = latest.pivot(index=CUSTOMER_ID, columns="channel", values="granted")
    return pd.DataFrame(
        {
            "email_consent": wide["email"] if "email" in wide.columns else None,
            "sms_consent": wide["sms"] if "sms" in wide.columns else None,
        },
        index=wide.index,
    )


def _suppressed(suppressions: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per customer: an email / SMS suppression in force at ``as_of``."""
    if suppressions is None:
        return pd.DataFrame(columns=["no_email", "no_sms"])
    lifted = (
        _times(suppressions, "lifted_at")
        if "lifted_at" in suppressions.columns
        else pd.Series(pd.NaT, index=suppressions.index, dtype="datetime64[us, UTC]")
    )
    active = suppressions.loc[(lifted.isna() | (lifted > as_of)).to_numpy()]
    scope = active["scope"]
    return pd.DataFrame(
        {
            "no_email": _count(active, scope.isin(("email", "all")).to_numpy()) > 0,
            "no_sms": _count(active, scope.isin(("sms", "phone", "all")).to_numpy()) > 0,
        }
    )


def _tag_part(
    customer_tags: pd.DataFrame | None, tag_definitions: pd.DataFrame | None
) -> pd.Series:
    if customer_tags is None or tag_definitions is None or len(tag_definitions) == 0:
        return pd.Series(dtype="object")
    label = (tag_definitions["vocabulary"] + ":" + tag_definitions["code"].astype("str")).set_axis(
        tag_definitions["tag_id"]
    )
    tagged = pd.DataFrame(
        {
            CUSTOMER_ID: customer_tags[CUSTOMER_ID].to_numpy(),
            "tag": label.reindex(customer_tags["tag_id"].to_numpy()).to_numpy(),
        }
    ).dropna()
    if tagged.empty:
        return pd.Series(dtype="object")
    tagged = tagged.sort_values([CUSTOMER_ID, "tag"])
    # slice one flat list at the customer boundaries: groupby(...).agg(list) loops in Python
    ids = tagged[CUSTOMER_ID].to_numpy()
    flat = tagged["tag"].tolist()
    bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(flat)]
    return pd.Series(
        [flat[i:j] for i, j in itertools.pairwise(bounds)],
        index=pd.Index(ids[bounds[:-1]], name=CUSTOMER_ID),
        name="tag",
        dtype=object,
    )


def build_profiles(
    tables: Mapping[str, pd.DataFrame | None],
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    *,
    window_days: int = 90,
) -> pd.DataFrame:
    """Build one profile row per active customer from the base's frames.

    Parameters
    ----------
    tables : mapping of table name to DataFrame
        ``customers`` is required; every other table is optional and named as in the
        database: ``orders``, ``deals``, ``leads``, ``activities``, ``marketing_events``,
        ``contact_points``, ``consents``, ``suppressions``, ``customer_tags``,
        ``tag_definitions``, and ``loyalty`` (``customer_id``, ``points_balance``,
        ``tier``; derived from the ledger by the caller).
    as_of : date or datetime
        The moment the profile describes (a date means the end of that day, UTC).
    window_days : int
        Length of the recent window of the ``*_90d`` counts.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (ascending), columns :data:`PROFILE_COLUMNS`. Counts are
        ``int64`` (0 when nothing happened), money ``float64``, instants UTC timestamps
        (``NaT`` when never), day counts nullable ``Int64``, flags ``bool``, ``tags`` a
        sorted list of ``"vocabulary:code"`` strings.

    Examples
    --------
    A customer with paid orders of 100 (books) and 300 (toys) and a cancelled one of 50 has
    ``orders`` 2, ``revenue`` 400.0, ``avg_order_value`` 200.0, ``favourite_category``
    ``"toys"``.
    """
    if "customers" not in tables or tables["customers"] is None:
        raise KeyError("build_profiles needs the 'customers' frame")
    at = _utc(as_of)
    since = at - pd.Timedelta(days=window_days)
    customers = tables["customers"]
    if STATUS in customers.columns:
        customers = customers.loc[(customers[STATUS] != "duplicate").to_numpy()]
    base = customers.set_index(CUSTOMER_ID).sort_index()
    profile = pd.DataFrame(index=base.index)
    for name in _CUSTOMER_FIELDS:
        profile[name] = base[name] if name in base.columns else None

    def get(name: str, column: str) -> pd.DataFrame | None:
        return _upto(tables.get(name), column, at)

    orders = get("orders", ORDERED_AT)
    deals = get("deals", "created_at")
    leads = get("leads", "created_at")
    activities = get("activities", OCCURRED_AT)
    events = get("marketing_events", OCCURRED_AT)
    consents = get("consents", "recorded_at")
    suppressions = get("suppressions", "suppressed_at")
    points = tables.get("contact_points")
    points = None if points is None or len(points) == 0 else points

    parts = [
        _order_part(orders, at),
        _deal_part(deals),
        _lead_part(leads),
        _event_part(events, since),
        _contact_part(points),
        _consent_part(consents),
        _suppressed(suppressions, at),
    ]
    if activities is not None:
        recent = (activities[OCCURRED_AT] >= since).to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "activities_90d": _count(activities, recent),
                    "last_activity_at": activities.groupby(CUSTOMER_ID, sort=False)[
                        OCCURRED_AT
                    ].max(),
                }
            )
        )
    for part in parts:
        part = part[~part.index.duplicated()]
        for col in part.columns:
            profile[col] = part[col].reindex(profile.index)

    counts = (
        "orders",
        "returns",
        "categories",
        "deals_open",
        "deals_won",
        "deals_lost",
        "leads",
        "activities_90d",
        "events_sent_90d",
        "events_opened_90d",
        "events_clicked_90d",
    )
    for col in counts:
        profile[col] = _int(profile.get(col))
    for col in ("revenue", "won_amount"):
        profile[col] = _float(profile.get(col))
    profile["avg_order_value"] = np.where(
        profile["orders"] > 0, profile["revenue"] / profile["orders"].clip(lower=1), 0.0
    )
    instants = (
        "first_order_at",
        "last_order_at",
        "last_won_at",
        "last_activity_at",
        "last_engaged_at",
        "created_at",
    )
    for col in instants:
        profile[col] = _instant(profile.get(col), profile.index)
    profile["last_active_at"] = profile[
        ["last_order_at", "last_activity_at", "last_engaged_at"]
    ].max(axis=1)
    profile["days_since_last_order"] = _days(at, profile["last_order_at"])
    profile["days_since_last_activity"] = _days(at, profile["last_active_at"])
    profile["tenure_days"] = _days(at, profile["created_at"])
    flags = (
        "is_loyalty_member",
        "has_email",
        "has_mobile",
        "email_consent",
        "sms_consent",
        "unsubscribed",
        "hard_bounced",
    )
    for col in flags:
        profile[col] = _flag(profile.get(col))
    no_email = _flag(profile.pop("no_email")) if "no_email" in profile else False
    no_sms = _flag(profile.pop("no_sms")) if "no_sms" in profile else False
    profile["reachable_email"] = (
        profile["has_email"]
        & profile["email_consent"]
        & ~profile["unsubscribed"]
        & ~profile["hard_bounced"]
        & ~no_email
    )
    profile["reachable_sms"] = profile["has_mobile"] & profile["sms_consent"] & ~no_sms
    tags = _tag_part(tables.get("customer_tags"), tables.get("tag_definitions"))
    tag_lists = tags.reindex(profile.index)
    empty = tag_lists.isna().to_numpy()
    if empty.any():
        tag_lists[empty] = pd.Series([[] for _ in range(int(empty.sum()))], dtype="object").values
    profile["tags"] = tag_lists.astype("object")
    loyalty = tables.get("loyalty")
    if loyalty is not None and len(loyalty):
        lo = loyalty.drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)
        profile["points_balance"] = _int(lo["points_balance"].reindex(profile.index))
        profile["tier"] = lo["tier"].reindex(profile.index) if "tier" in lo.columns else None
    else:
        profile["points_balance"] = 0
        profile["tier"] = None
    return profile[list(PROFILE_COLUMNS)]


def _int(values: pd.Series | None) -> Any:
    if values is None:
        return 0
    return pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")


def _float(values: pd.Series | None) -> Any:
    if values is None:
        return 0.0
    return pd.to_numeric(values, errors="coerce").fillna(0.0).astype("float64")


def _flag(values: Any) -> Any:
    if values is None or not isinstance(values, pd.Series):
        return False if values is None else values
    return values.astype("boolean").fillna(False).astype(bool)


def _instant(values: pd.Series | None, index: pd.Index) -> pd.Series:
    if values is None:
        return pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")
    s = pd.to_datetime(values, utc=True)
    return s.astype("datetime64[us, UTC]")


def customer_partition(ids: pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 … ``partitions`` - 1) of each customer id: the id modulo ``partitions``.

    The same partition on every run and every machine, consecutive ids (a day's new
    customers) dealt round the parts, and the same rule in SQL
    (:func:`partition_condition`), so a worker can read its own part of a table from the
    database instead of being sent it.

    >>> customer_partition(np.array([1, 2, 3, 4]), 3).tolist()
    [1, 2, 0, 1]
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    return np.asarray(ids, dtype=np.int64) % partitions


def partition_condition(part: int, partitions: int, column: str = CUSTOMER_ID) -> str:
    """The SQL condition selecting part ``part`` of ``partitions`` (:func:`customer_partition`).

    Rows without a customer (``NULL``) are in no part, as in :func:`partition_tables`. The
    arguments are integers checked here, so the text is safe to put into a ``WHERE`` clause.

    >>> partition_condition(1, 4)
    'customer_id % 4 = 1'
    """
    if not 0 <= int(part) < int(partitions):
        raise ValueError(f"part must be in 0 … {partitions - 1}, got {part}")
    if not column.isidentifier():
        raise ValueError(f"not a column name: {column!r}")
    return f"{column} % {int(partitions)} = {int(part)}"


def partition_tables(
    tables: Mapping[str, pd.DataFrame], partitions: int
) -> list[dict[str, pd.DataFrame]]:
    """Split the base's frames into ``partitions`` parts by ``customer_id`` (as in SQL).

    The part of a row is :func:`customer_partition` of its customer, as
    :func:`partition_condition` selects it in a ``WHERE`` clause.

    Every frame with a ``customer_id`` column is cut (rows without a customer go nowhere:
    no profile counts them); frames without one (``companies``, ``tag_definitions``) are
    shared by every part. Row order is kept within a part, so :func:`build_profiles` of a
    part gives exactly that part's rows of :func:`build_profiles` of the whole.
    """
    parts: list[dict[str, pd.DataFrame]] = [{} for _ in range(partitions)]
    for name, frame in tables.items():
        if CUSTOMER_ID not in frame.columns:
            for part in parts:
                part[name] = frame
            continue
        ids = frame[CUSTOMER_ID]
        known = ids.notna().to_numpy()
        which = np.full(len(frame), -1, dtype=np.int64)
        which[known] = customer_partition(ids[known].to_numpy(dtype=np.int64), partitions)
        for k, part in enumerate(parts):
            part[name] = frame[which == k]
    return parts
