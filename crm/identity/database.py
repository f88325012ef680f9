"""Identity resolution on the CRM database: read people, merge, undo, link households.

Set-wise SQL through :mod:`crm.store` (ADBC, SQLite and PostgreSQL alike): a merge plan
is staged as a temporary table and each child table is re-pointed by one statement, all
in one transaction. Every moved row is recorded in ``merge_moves`` with its original
owner, so :func:`undo_merge` puts exactly those rows back.

Only the ``crm`` core's tables are re-pointed (orders, deals, leads, activities, marketing
events, consents, contact points, invoices, tags, relations). A contact point or tag the
survivor already has stays with the closed duplicate (nothing is dropped).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crm import store
from crm.asof import as_instant
from crm.identity.errors import IdentityError, MergeNotFoundError, MergeStateError
from crm.identity.job import PEOPLE_ROLES, DedupInputs, DedupPlan, people_frame, plan_dedup
from crm.identity.merge import SURVIVOR_RULE, merge_plan
from crm.identity.resolve import DuplicateResult

__all__ = [
    "PEOPLE_ROLES",
    "DedupRun",
    "apply_merges",
    "cannot_link",
    "decide_pair",
    "dedup",
    "link_households",
    "load_inputs",
    "maybe_same_pairs",
    "read_people",
    "undo_merge",
    "write_plan",
]

# (table, primary key, customer column) re-pointed by a merge
_SIMPLE = (
    ("orders", "order_id"),
    ("deals", "deal_id"),
    ("leads", "lead_id"),
    ("activities", "activity_id"),
    ("marketing_events", "event_id"),
    ("consents", "consent_id"),
    ("invoices", "invoice_id"),
)


def load_inputs(url: str, since: Any = None, tz: str | None = None) -> DedupInputs:
    """Active customers, their contact points, won deals and undone merges (the job's input).

    Parameters
    ----------
    url : str
        Database URL.
    since : date, datetime or ISO text, optional
        For an incremental run (a later night): the customers created or updated after
        this instant, or given a contact point after it, are the changed ones
        (``DedupInputs.changed``) that :func:`~crm.identity.job.plan_dedup` matches against
        the base. ``since`` is the previous night's ``as_of``: what that night wrote is
        stamped with that very instant (its hygiene rewrote half a generated base's
        records), and its own dedup, which runs after its hygiene, already saw it, so a
        record stamped exactly then is not changed. Read with :func:`crm.asof.as_instant`
        in ``tz`` (a bare date is the end of that day). ``None``: a full run.
    tz : str, optional
        Time zone of a naive ``since``.
    """
    customers = store.read_frame(
        url,
        "SELECT customer_id, first_name, last_name, middle_name, gender, birth_date, address, "
        "postcode, created_at, updated_at FROM customers WHERE status = 'active'",
    )
    points = store.read_frame(
        url,
        "SELECT cp.contact_point_id, cp.customer_id, cp.kind, cp.value, "
        "COALESCE(cp.normalized, cp.value) AS match_value, cp.is_primary, cp.created_at "
        "FROM contact_points cp "
        "JOIN customers c ON c.customer_id = cp.customer_id WHERE c.status = 'active'",
    )
    deals = store.read_frame(
        url,
        "SELECT customer_id, status, created_at, closed_at FROM deals WHERE status = 'won'",
    )
    changed = None
    if since is not None:
        start = as_instant(since, tz)
        created = pd.to_datetime(customers["created_at"], utc=True)
        updated = pd.to_datetime(customers["updated_at"], utc=True)
        new = (created > start) | (updated > start)
        touched = points.loc[pd.to_datetime(points["created_at"], utc=True) > start, "customer_id"]
        ids = pd.concat([customers.loc[new.fillna(False), "customer_id"], touched])
        changed = np.unique(ids.to_numpy(dtype=np.int64))
    return DedupInputs(
        customers.drop(columns="updated_at"),
        points.drop(columns="created_at"),
        deals,
        cannot_link(url),
        changed=changed,
    )


def read_people(url: str) -> pd.DataFrame:
    """Active customers with up to two emails and two phones each (``PEOPLE_ROLES`` columns).

    Contact points are taken primary first, then oldest; the normalised value where there
    is one (:func:`crm.identity.job.people_frame`).
    """
    inputs = load_inputs(url)
    return people_frame(inputs.customers, inputs.points)


def cannot_link(url: str) -> pd.DataFrame:
    """Pairs a person said are two people: ``id_a``, ``id_b`` (never merged again).

    A merge they undid (``crm dedup --undo``), and a pair left for review that they
    decided is two people of one home (``crm dedup --apart``, :func:`decide_pair`).
    """
    frame = store.read_frame(
        url,
        "SELECT survivor_id AS id_a, merged_id AS id_b FROM merge_log WHERE action = 'undo' "
        f"UNION SELECT customer_id AS id_a, related_customer_id AS id_b FROM relations "
        f"WHERE kind = 'household' AND source = '{_DECIDED}'",
    )
    return frame


#: ``relations.source`` of a pair a person decided (``crm dedup --apart``).
_DECIDED = "review"


def maybe_same_pairs(url: str) -> pd.DataFrame:
    """The pairs left for review (kind ``maybe_same``) whose two customers are both active.

    One row per pair: ``customer_id``, ``related_customer_id``, then for each side (``_a``,
    ``_b``) the name, birth date, postcode and first email and phone, so a person can
    decide with :func:`decide_pair`.
    """
    pairs = store.read_frame(
        url,
        "SELECT r.customer_id, r.related_customer_id, r.created_at FROM relations r "
        "JOIN customers a ON a.customer_id = r.customer_id "
        "JOIN customers b ON b.customer_id = r.related_customer_id "
        "WHERE r.kind = 'maybe_same' AND a.status = 'active' AND b.status = 'active' "
        "ORDER BY r.customer_id, r.related_customer_id",
    )
    if pairs.empty:
        return pairs
    ids = np.unique(pairs[["customer_id", "related_customer_id"]].to_numpy(dtype=np.int64))
    listed = ", ".join(str(int(i)) for i in ids)
    people = store.read_frame(
        url,
        "SELECT customer_id, first_name, last_name, birth_date, postcode FROM customers "
        f"WHERE customer_id IN ({listed})",
    ).set_index("customer_id")
    points = store.read_frame(
        url,
        "SELECT customer_id, kind, value FROM contact_points "
        f"WHERE customer_id IN ({listed}) AND kind IN ('email', 'phone') "
        "ORDER BY is_primary DESC, contact_point_id",
    )
    first = points.drop_duplicates(["customer_id", "kind"]).pivot(
        index="customer_id", columns="kind", values="value"
    )
    people = people.join(first.reindex(columns=["email", "phone"]))
    out = pairs.drop(columns="created_at")
    for end, col in (("a", "customer_id"), ("b", "related_customer_id")):
        side = people.reindex(out[col].to_numpy())
        for f in ("first_name", "last_name", "birth_date", "postcode", "email", "phone"):
            out[f"{f}_{end}"] = side[f].to_numpy()
    return out


def decide_pair(
    url: str, a: int, b: int, *, same: bool, as_of: dt.datetime, run_id: str
) -> pd.DataFrame:
    """A person's decision on a pair left for review: one person, or two of one home.

    ``same``: the two are merged with the survivor rule (one merge in the merge log,
    undone like any other with ``crm dedup --undo``). Otherwise the pair becomes a
    household link (source ``review``) and is never merged nor proposed for review again.
    Returns the merge (``merge_id``, ``survivor_id``, ``merged_id``, ...) or an empty frame.
    """
    lo, hi = min(int(a), int(b)), max(int(a), int(b))
    found = store.read_frame(
        url,
        f"SELECT customer_id, status, created_at FROM customers WHERE customer_id IN ({lo}, {hi})",
    )
    missing = sorted({lo, hi} - set(found["customer_id"].astype("int64")))
    if missing:
        raise IdentityError(f"customer {missing[0]} does not exist")
    closed = found.loc[found["status"] != "active", "customer_id"]
    if len(closed):
        raise IdentityError(f"customer {int(closed.iloc[0])} is not active (merged or closed)")
    if same:
        clusters = pd.DataFrame({"record_id": [lo, hi], "cluster_id": lo, "cluster_size": 2})
        pairs = pd.DataFrame({"id_a": [lo], "id_b": [hi], "score": [1.0], "is_match": [True]})
        deals = store.read_frame(
            url,
            "SELECT customer_id, status, created_at, closed_at FROM deals "
            f"WHERE status = 'won' AND customer_id IN ({lo}, {hi})",
        )
        plan = merge_plan(clusters.assign(confidence=1.0), pairs, found, deals)
        return apply_merges(url, plan, run_id, as_of)
    with store.connect(url) as conn, store.transaction(conn) as cur:
        # one statement each; the pair ends as one household link a person decided
        cur.execute(
            "DELETE FROM relations WHERE kind IN ('maybe_same', 'household') AND "
            f"customer_id = {lo} AND related_customer_id = {hi}"
        )
        cur.execute(
            store.placeholders(
                url,
                "INSERT INTO relations (customer_id, related_customer_id, kind, source, "
                f"created_at) VALUES ({lo}, {hi}, 'household', '{_DECIDED}', ?)",
            ),
            (store.instant_param(url, as_of),),
        )
    return apply_merges(url, _no_merges(), run_id, as_of)


def _no_merges() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "survivor_id": pd.Series([], dtype="int64"),
            "merged_id": pd.Series([], dtype="int64"),
            "score": pd.Series([], dtype=float),
            "confidence": pd.Series([], dtype=float),
        }
    )


def _log_table(url: str, columns: dict[str, Any], n: int, as_of: dt.datetime) -> pa.Table:
    ts = pd.Timestamp(as_of)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    recorded = pa.array([ts.to_pydatetime()] * n, type=pa.timestamp("us", tz="UTC"))
    return store.encode_table(url, "merge_log", pa.table({**columns, "recorded_at": recorded}))


def _fetch(cur: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    cur.execute(sql, params) if params else cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def apply_merges(url: str, plan: pd.DataFrame, run_id: str, as_of: dt.datetime) -> pd.DataFrame:
    """Close the duplicates of ``plan`` and re-point their rows to the survivors, atomically.

    Parameters
    ----------
    plan : pandas.DataFrame
        ``survivor_id``, ``merged_id``, ``score``, ``confidence``
        (:func:`crm.identity.merge.merge_plan`).
    run_id : str
        Recorded in the merge log.
    as_of : datetime
        The instant recorded for the merges.

    Returns
    -------
    pandas.DataFrame
        ``plan`` with the ``merge_id`` each merge got, and ``moved`` (rows re-pointed).
    """
    if plan.empty:
        return plan.assign(merge_id=pd.Series([], dtype="int64"), moved=0)
    stage = f"merge_plan_{uuid.uuid4().hex[:8]}"
    with store.connect(url) as conn, store.transaction(conn) as cur:
        start = _fetch(cur, "SELECT COALESCE(MAX(merge_id), 0) FROM merge_log")[0][0]
        plan = plan.reset_index(drop=True).assign(
            merge_id=np.arange(int(start) + 1, int(start) + 1 + len(plan), dtype=np.int64)
        )
        n = len(plan)
        log = _log_table(
            url,
            {
                "merge_id": pa.array(plan["merge_id"], pa.int64()),
                "action": pa.array(["merge"] * n),
                "survivor_id": pa.array(plan["survivor_id"], pa.int64()),
                "merged_id": pa.array(plan["merged_id"], pa.int64()),
                "rule": pa.array([SURVIVOR_RULE] * n),
                "score": pa.array(plan["score"], pa.float64()),
                "confidence": pa.array(plan["confidence"], pa.float64()),
                "run_id": pa.array([run_id] * n),
            },
            n,
            as_of,
        )
        cur.adbc_ingest("merge_log", log, mode="append")
        cur.adbc_ingest(
            stage,
            log.select(["merge_id", "survivor_id", "merged_id"]),
            mode="create",
            temporary=True,
        )
        # the plan is looked up by either end for every moved row: index it like a real table
        for col in ("merged_id", "survivor_id"):
            cur.execute(f"CREATE INDEX ix_{stage}_{col} ON {stage} ({col})")
        _repoint(cur, stage)
        cur.execute(
            f"UPDATE customers SET status = 'duplicate', merged_into = p.survivor_id "
            f"FROM {stage} p WHERE p.merged_id = customers.customer_id"
        )
        moved = _fetch(
            cur,
            f"SELECT m.merge_id, COUNT(*) FROM merge_moves m JOIN {stage} p "
            "ON p.merge_id = m.merge_id GROUP BY m.merge_id",
        )
        cur.execute(f"DROP TABLE {stage}")
    counts = dict(moved)
    return plan.assign(moved=plan["merge_id"].map(counts).fillna(0).astype("int64"))


def _move(cur: Any, stage: str, name: str, select: str) -> None:
    cur.execute(
        f"INSERT INTO merge_moves (merge_id, table_name, row_id, from_customer_id) {select}"
    )


def _repoint(cur: Any, stage: str) -> None:
    moves = (
        f"SELECT m.row_id, p.survivor_id FROM merge_moves m JOIN {stage} p "
        "ON p.merge_id = m.merge_id WHERE m.table_name = '{name}'"
    )
    for table, pk in _SIMPLE:
        _move(
            cur,
            stage,
            table,
            f"SELECT p.merge_id, '{table}', t.{pk}, t.customer_id FROM {table} t "
            f"JOIN {stage} p ON t.customer_id = p.merged_id",
        )
        cur.execute(
            f"UPDATE {table} SET customer_id = s.survivor_id "
            f"FROM ({moves.format(name=table)}) s WHERE s.row_id = {table}.{pk}"
        )
    # contact points: unique per (customer, kind, value); one copy moves, others stay behind
    _move(
        cur,
        stage,
        "contact_points",
        f"SELECT p.merge_id, 'contact_points', t.contact_point_id, t.customer_id "
        f"FROM contact_points t JOIN {stage} p ON t.customer_id = p.merged_id "
        "WHERE NOT EXISTS (SELECT 1 FROM contact_points s WHERE s.customer_id = p.survivor_id "
        "AND s.kind = t.kind AND s.value = t.value) "
        "AND t.contact_point_id = (SELECT MIN(t2.contact_point_id) FROM contact_points t2 "
        f"JOIN {stage} p2 ON t2.customer_id = p2.merged_id WHERE p2.survivor_id = p.survivor_id "
        "AND t2.kind = t.kind AND t2.value = t.value)",
    )
    cur.execute(
        "UPDATE contact_points SET customer_id = s.survivor_id "
        f"FROM ({moves.format(name='contact_points')}) s "
        "WHERE s.row_id = contact_points.contact_point_id"
    )
    # tags: the key is (customer_id, tag_id); row_id records the tag
    _move(
        cur,
        stage,
        "customer_tags",
        f"SELECT p.merge_id, 'customer_tags', t.tag_id, t.customer_id "
        f"FROM customer_tags t JOIN {stage} p ON t.customer_id = p.merged_id "
        "WHERE NOT EXISTS (SELECT 1 FROM customer_tags s WHERE s.customer_id = p.survivor_id "
        "AND s.tag_id = t.tag_id) AND t.customer_id = (SELECT MIN(t2.customer_id) "
        f"FROM customer_tags t2 JOIN {stage} p2 ON t2.customer_id = p2.merged_id "
        "WHERE p2.survivor_id = p.survivor_id AND t2.tag_id = t.tag_id)",
    )
    cur.execute(
        "UPDATE customer_tags SET customer_id = s.survivor_id "
        f"FROM (SELECT m.row_id, m.from_customer_id, p.survivor_id FROM merge_moves m JOIN {stage} p "
        "ON p.merge_id = m.merge_id WHERE m.table_name = 'customer_tags') s "
        "WHERE s.row_id = customer_tags.tag_id AND s.from_customer_id = customer_tags.customer_id"
    )
    # relations: both ends; never a self-link, never a second copy of an existing link
    for col, other in (
        ("customer_id", "related_customer_id"),
        ("related_customer_id", "customer_id"),
    ):
        name = f"relations.{col}"
        _move(
            cur,
            stage,
            name,
            f"SELECT p.merge_id, '{name}', t.relation_id, t.{col} FROM relations t "
            f"JOIN {stage} p ON t.{col} = p.merged_id WHERE t.{other} <> p.survivor_id "
            f"AND NOT EXISTS (SELECT 1 FROM relations s WHERE s.{col} = p.survivor_id "
            f"AND s.{other} = t.{other} AND s.kind = t.kind) "
            "AND t.relation_id = (SELECT MIN(t2.relation_id) FROM relations t2 "
            f"JOIN {stage} p2 ON t2.{col} = p2.merged_id WHERE p2.survivor_id = p.survivor_id "
            f"AND t2.{other} = t.{other} AND t2.kind = t.kind)",
        )
        cur.execute(
            f"UPDATE relations SET {col} = s.survivor_id "
            f"FROM ({moves.format(name=name)}) s WHERE s.row_id = relations.relation_id"
        )


def undo_merge(url: str, merge_id: int, run_id: str, as_of: dt.datetime) -> int:
    """Undo one merge: reopen the duplicate and give back every row the merge moved.

    The undo is a new ``merge_log`` entry (the log is append-only), and the pair is never
    merged again by later runs (:func:`cannot_link`).

    Returns
    -------
    int
        Rows given back.

    Raises
    ------
    MergeNotFoundError
        No merge with that id.
    MergeStateError
        The merge was already undone.
    """

    def _p(sql: str) -> str:
        return store.placeholders(url, sql)

    with store.connect(url) as conn, store.transaction(conn) as cur:
        rows = _fetch(
            cur,
            _p(
                "SELECT action, survivor_id, merged_id, rule, score, confidence FROM merge_log "
                "WHERE merge_id = ?"
            ),
            [int(merge_id)],
        )
        entry = {r[0]: r for r in rows}
        if "merge" not in entry:
            raise MergeNotFoundError(merge_id)
        if "undo" in entry:
            raise MergeStateError(merge_id, "already undone")
        _, survivor, merged, rule, score, confidence = entry["merge"]
        given = _fetch(
            cur,
            _p("SELECT COUNT(*) FROM merge_moves WHERE merge_id = ?"),
            [int(merge_id)],
        )[0][0]
        mid = int(merge_id)
        for table, pk in (*_SIMPLE, ("contact_points", "contact_point_id")):
            cur.execute(
                _p(
                    f"UPDATE {table} SET customer_id = (SELECT m.from_customer_id FROM "
                    f"merge_moves m WHERE m.merge_id = ? AND m.table_name = '{table}' "
                    f"AND m.row_id = {table}.{pk}) WHERE {pk} IN (SELECT row_id FROM merge_moves "
                    f"WHERE merge_id = ? AND table_name = '{table}')"
                ),
                [mid, mid],
            )
        cur.execute(
            _p(
                "UPDATE customer_tags SET customer_id = ? WHERE customer_id = ? AND tag_id IN "
                "(SELECT row_id FROM merge_moves WHERE merge_id = ? AND table_name = 'customer_tags')"
            ),
            [int(merged), int(survivor), mid],
        )
        for col in ("customer_id", "related_customer_id"):
            name = f"relations.{col}"
            cur.execute(
                _p(
                    f"UPDATE relations SET {col} = ? WHERE relation_id IN (SELECT row_id FROM "
                    f"merge_moves WHERE merge_id = ? AND table_name = '{name}')"
                ),
                [int(merged), mid],
            )
        cur.execute(
            _p(
                "UPDATE customers SET status = 'active', merged_into = NULL "
                "WHERE customer_id = ? AND status = 'duplicate'"
            ),
            [int(merged)],
        )
        log = _log_table(
            url,
            {
                "merge_id": pa.array([mid], pa.int64()),
                "action": pa.array(["undo"]),
                "survivor_id": pa.array([int(survivor)], pa.int64()),
                "merged_id": pa.array([int(merged)], pa.int64()),
                "rule": pa.array([rule]),
                "score": pa.array([score], pa.float64()),
                "confidence": pa.array([confidence], pa.float64()),
                "run_id": pa.array([run_id]),
            },
            1,
            as_of,
        )
        cur.adbc_ingest("merge_log", log, mode="append")
    return int(given)


def link_households(
    url: str, links: pd.DataFrame, as_of: dt.datetime, kind: str = "household"
) -> store.WriteResult:
    """Write pairs to ``relations`` as ``kind``; existing links stay as they are.

    ``kind`` is ``household`` (two people of one home) or ``maybe_same`` (one person or
    two of one name: :func:`crm.identity.resolve.maybe_same`, for review).
    """
    frame = pd.DataFrame(
        {
            "customer_id": links["customer_id"].to_numpy(dtype=np.int64),
            "related_customer_id": links["related_customer_id"].to_numpy(dtype=np.int64),
            "kind": kind,
            "source": "dedup",
            "created_at": pd.Timestamp(as_of),
        }
    )
    if frame.empty:
        return store.WriteResult(inserted=0)
    return store.write_frame(
        url,
        frame,
        "relations",
        mode="upsert",
        key=["customer_id", "related_customer_id", "kind"],
        update=[],
    )


@dataclass
class DedupRun:
    """What :func:`dedup` (or the ``dedup`` flow) found and did."""

    result: DuplicateResult
    plan: pd.DataFrame
    households: pd.DataFrame
    merged: int = 0
    moved_rows: int = 0
    households_added: int = 0
    dry_run: bool = True
    stats: dict[str, object] = field(default_factory=dict)
    maybe_same: pd.DataFrame | None = None
    maybe_same_added: int = 0


def write_plan(
    url: str, plan: DedupPlan, run_id: str, as_of: dt.datetime, *, dry_run: bool = False
) -> DedupRun:
    """Apply ``plan``: each round's merges in order, then the household links.

    With ``dry_run`` nothing is written; the run lists every merge the plan holds.
    """
    run = DedupRun(
        result=plan.result,
        plan=plan.merges,
        households=plan.households,
        maybe_same=plan.maybe_same,
        dry_run=dry_run,
        stats={"customers": plan.customers, **plan.stats},
    )
    if dry_run:
        return run
    done = [apply_merges(url, r, run_id, as_of) for r in plan.rounds]
    if done:
        applied = pd.concat(done, ignore_index=True)
        run.plan = run.plan.merge(applied[["merged_id", "merge_id", "moved"]], on="merged_id")
        run.plan = run.plan[
            ["merge_id", "survivor_id", "merged_id", "score", "confidence", "moved"]
        ]
        run.merged = len(applied)
        run.moved_rows = int(applied["moved"].sum())
    run.households_added = link_households(url, plan.households, as_of).inserted
    # a pair a person already decided is not proposed again
    decided = store.read_frame(
        url,
        "SELECT customer_id, related_customer_id FROM relations "
        f"WHERE kind = 'household' AND source = '{_DECIDED}'",
    )
    unsure = plan.maybe_same
    if len(decided) and len(unsure):
        code = decided["customer_id"].astype("int64") * (1 << 32) + decided[
            "related_customer_id"
        ].astype("int64")
        mine = unsure["customer_id"].astype("int64") * (1 << 32) + unsure[
            "related_customer_id"
        ].astype("int64")
        unsure = unsure[~mine.isin(code).to_numpy()]
    run.maybe_same = unsure
    run.maybe_same_added = link_households(url, unsure, as_of, "maybe_same").inserted
    # a pair under review that is now known to be two people of one home is settled
    store.execute(
        url,
        "DELETE FROM relations WHERE kind = 'maybe_same' AND EXISTS (SELECT 1 FROM relations h "
        "WHERE h.kind = 'household' AND h.customer_id = relations.customer_id "
        "AND h.related_customer_id = relations.related_customer_id)",
    )
    return run


def dedup(
    url: str,
    as_of: dt.datetime,
    *,
    threshold: float = 0.5,
    dry_run: bool = False,
    run_id: str | None = None,
    options: Mapping[str, Any] | None = None,
    since: Any = None,
) -> DedupRun:
    """The dedup job: :func:`load_inputs` → :func:`~crm.identity.job.plan_dedup` → :func:`write_plan`.

    Finds duplicates among active customers, merges them (unless ``dry_run``) and links
    households. A rerun changes nothing: the plan is closed under its own rule, merged
    records are no longer active, household links are upserted, and merges a person
    undid are never redone. ``flows.identity.dedup_flow`` runs the same three steps as
    Prefect tasks. With ``since`` (a later night) only the customers new or changed since
    then are matched against the base (:func:`load_inputs`).
    """
    plan = plan_dedup(load_inputs(url, since), threshold=threshold, options=options)
    return write_plan(url, plan, run_id or f"dedup-{uuid.uuid4().hex[:12]}", as_of, dry_run=dry_run)
