"""Clusters of matched records that never chain different people together.

Connected components over matched pairs join two people through one weak link: ``A``
matches ``B`` (one phone), ``B`` matches ``C`` (one email), and ``A`` and ``C`` — twins,
or five namesakes of one common name — end up as one person although they were never a
match themselves. Here every cluster is built around a centre instead:

1. components of the matched pairs are found as usual;
2. inside each component the record with the most match evidence (the highest sum of
   match scores) is the centre; a record stays in the centre's cluster only if it is a
   match with the centre itself;
3. two members that are "different people" (a veto: another given name, birth date,
   gender, patronymic; household evidence) cut the cluster: a member with at least as
   many vetoes inside the cluster as direct matches leaves (twins both matching a record
   without a given name: each has one veto and one match, the one weaker tied to the
   centre leaves), while a record that many members match stays despite one veto,
   unless it has no birth date: then nothing tells it from the member vetoing it;
4. the records that left are clustered again the same way, until nothing changes.

So a cluster's members are each a direct match with its centre and never a veto among
themselves. :func:`component_pairs` lists the pairs inside small components that
blocking did not compare, so steps 2–3 see every pair; everything here is numpy on
integer arrays, a few rounds over all records at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["ambiguous_matches", "centre_clusters", "component_pairs", "components"]

_MAX_ROUNDS = 25


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` records joined by the pairs ``(a, b)``."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)


def component_pairs(
    labels: np.ndarray, min_size: int = 3, max_size: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(a, b)``, ``a < b``, of records sharing a component of ``min_size..max_size``.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Component label per record (:func:`components`).
    min_size, max_size : int
        Components of these sizes are expanded (pairs grow with the size squared).
    """
    labels = np.asarray(labels, dtype=np.int64)
    size = np.bincount(labels)[labels]
    rec = np.flatnonzero((size >= min_size) & (size <= max_size))
    if len(rec) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    rec = rec[np.argsort(labels[rec], kind="stable")]
    lab = labels[rec]
    out_a, out_b = [], []
    for d in range(1, int(size[rec].max())):
        same = lab[:-d] == lab[d:]
        if not same.any():
            break
        out_a.append(rec[:-d][same])
        out_b.append(rec[d:][same])
    a, b = np.concatenate(out_a), np.concatenate(out_b)
    return np.minimum(a, b), np.maximum(a, b)


def ambiguous_matches(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    is_match: np.ndarray,
    different: np.ndarray,
    undated: np.ndarray,
    tie: np.ndarray,
) -> np.ndarray:
    """Matches of an undated record that match two provably different people: withdrawn.

    A record without a birth date (``Оксана Коровина`` at one flat, no mailbox) that
    matches both ``x`` and ``y`` while ``x`` and ``y`` are two people (a veto: born 25
    years apart, a mother and a daughter of one name) cannot say which of them it is:
    names, the address and a home phone fit both. Merging it with either is a guess, so
    it joins neither (a household link instead), unless a personal tie (``tie``: an
    own mobile or mailbox no other person of the pair shares, an external id, the
    patronymic) holds with exactly one of them: then only its match with the other is
    withdrawn. With ties to both, the clustering picks as for any record.

    Parameters
    ----------
    n : int
        Number of records.
    a, b : numpy.ndarray of int
        Compared pairs (each unordered pair once).
    is_match, different : numpy.ndarray of bool
        Matched pairs, and pairs that are two people of one name (vetoes: born years
        apart, a ``Jr.`` and an unmarked record, each with an own mailbox). A veto on the
        given name is no proof here: a typed-over given name vetoes one person's records.
    undated : numpy.ndarray of bool
        Per record: no birth date.
    tie : numpy.ndarray of bool
        Per pair: agreement on something only one person has.

    Returns
    -------
    numpy.ndarray of bool
        Per pair: a match withdrawn (to be taken as two people).

    Examples
    --------
    Record 2 (undated) matches 0 and 1, who were born years apart; nothing personal ties
    it to either:

    >>> ambiguous_matches(3, np.array([0, 0, 1]), np.array([1, 2, 2]),
    ...                   np.array([False, True, True]), np.array([True, False, False]),
    ...                   np.array([False, False, True]), np.zeros(3, dtype=bool)).tolist()
    [False, True, True]
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.zeros(len(a), dtype=bool)
    if not is_match.any() or not different.any():
        return out
    comp = components(n, a[is_match], b[is_match])
    # vetoes inside one component of matches: only those can share a matched neighbour
    v = np.flatnonzero(different & (comp[a] == comp[b]))
    mi = np.flatnonzero(is_match)
    if not len(v):
        return out
    # match edges both ways: (z, x, pair)
    z = np.concatenate([a[mi], b[mi]])
    x = np.concatenate([b[mi], a[mi]])
    e = np.concatenate([mi, mi])
    keep = undated[z]
    z, x, e = z[keep], x[keep], e[keep]
    if not len(z):
        return out
    edges = pd.DataFrame({"z": z, "x": x, "e": e})
    vetoes = pd.DataFrame({"x": np.concatenate([a[v], b[v]]), "y": np.concatenate([b[v], a[v]])})
    # (z, x, y): z matches x, x and y are two people; is z also a match of y?
    tri = edges.merge(vetoes, on="x")
    both = tri.merge(edges.rename(columns={"x": "y", "e": "f"}), on=["z", "y"])
    if not len(both):
        return out
    ex, ey = both["e"].to_numpy(), both["f"].to_numpy()
    tx, ty = tie[ex], tie[ey]
    # neither side tied: both withdrawn; one side tied: the other side withdrawn
    out[ex[~tx & ~ty]] = True
    out[ey[~tx & ~ty]] = True
    out[ey[tx & ~ty]] = True
    out[ex[ty & ~tx]] = True
    return out


def centre_clusters(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    is_match: np.ndarray,
    different: np.ndarray,
    undated: np.ndarray | None = None,
    namesakes: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster label per record: members match the centre and are never "different people".

    Parameters
    ----------
    n : int
        Number of records.
    a, b : numpy.ndarray of int
        Compared pairs (record positions, each unordered pair once).
    score : numpy.ndarray of float
        Match probability per pair.
    is_match : numpy.ndarray of bool
        Pairs that are a match.
    different : numpy.ndarray of bool
        Pairs that are two different people (a veto), whatever their score.
    undated : numpy.ndarray of bool, optional
        Per record: no birth date. Such a member vetoed by another member as a namesake
        (``namesakes``) leaves the cluster even when it matches more members than veto it.
    namesakes : numpy.ndarray of bool, optional
        Per pair: a veto between two people of one given name (default: every veto).

    Returns
    -------
    numpy.ndarray of int
        A label per record (records of one cluster share it; a record alone has its own).

    Examples
    --------
    Records 0 and 2 are different people who both match record 1 (with a missing given
    name): 1 joins the one it matches best, the other stays alone.

    >>> centre_clusters(3, np.array([0, 1, 0]), np.array([1, 2, 2]),
    ...                 np.array([0.9, 0.8, 0.0]), np.array([True, True, False]),
    ...                 np.array([False, False, True])).tolist()
    [0, 0, 2]
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    undated = np.zeros(n, dtype=bool) if undated is None else np.asarray(undated, dtype=bool)
    # a cluster lies inside one component of the matched pairs: only pairs inside those count
    start = components(n, a[is_match], b[is_match])
    inside = start[a] == start[b]
    a, b, score = a[inside], b[inside], np.asarray(score)[inside]
    is_match, different = np.asarray(is_match)[inside], np.asarray(different)[inside]
    namesakes = np.asarray(namesakes)[inside] if namesakes is not None else different
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    code = lo * n + hi
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    pos = np.arange(n, dtype=np.int64)

    def pair_index(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.minimum(u, v) * n + np.maximum(u, v)
        i = np.clip(np.searchsorted(sorted_code, c), 0, max(len(sorted_code) - 1, 0))
        found = (sorted_code[i] == c) if len(sorted_code) else np.zeros(len(c), dtype=bool)
        return order[i], found

    final = pos.copy()
    pool = np.ones(n, dtype=bool)
    for _ in range(_MAX_ROUNDS):
        m = is_match & pool[a] & pool[b]
        if not m.any():
            break
        lab = components(n, a[m], b[m])
        size = np.bincount(lab)[lab]
        in_comp = pool & (size > 1)
        degree = np.zeros(n)
        np.add.at(degree, a[m], score[m])
        np.add.at(degree, b[m], score[m])
        # the centre: most evidence, then the first record
        ranked = np.lexsort((pos, -degree, lab))
        first = np.ones(n, dtype=bool)
        first[1:] = lab[ranked][1:] != lab[ranked][:-1]
        centre_of = np.empty(lab.max() + 1, dtype=np.int64)
        centre_of[lab[ranked][first]] = ranked[first]
        centre = centre_of[lab]
        idx, found = pair_index(pos, centre)
        to_centre = np.where(pos == centre, np.inf, np.where(found, score[idx], -np.inf))
        ok = in_comp & ((pos == centre) | (found & is_match[idx]))
        # vetoed pairs inside one cluster: a member with as many vetoes as direct matches
        # in it leaves (the one with the larger excess, then the one weaker tied to the centre)
        for _ in range(5):
            inside = ok[a] & ok[b] & (centre[a] == centre[b])
            clash = different & inside
            if not clash.any():
                break
            sup = is_match & inside
            excess = (
                np.bincount(a[clash], minlength=n)
                + np.bincount(b[clash], minlength=n)
                - np.bincount(a[sup], minlength=n)
                - np.bincount(b[sup], minlength=n)
            ).astype(float)
            excess[pos == centre] = -np.inf  # the centre never leaves its own cluster
            ca, cb = a[clash], b[clash]
            first_worse = (excess[ca] > excess[cb]) | (
                (excess[ca] == excess[cb])
                & ((to_centre[ca] < to_centre[cb]) | ((to_centre[ca] == to_centre[cb]) & (ca > cb)))
            )
            loser = np.where(first_worse, ca, cb)
            # an undated member vetoed inside the cluster leaves whatever else it matches
            # (Norman Hines without a date, vetoed by Norman Hines Jr.): it may be the other
            strong = namesakes[clash]
            ua = strong & undated[ca] & (ca != centre[ca])
            ub = strong & undated[cb] & (cb != centre[cb])
            loser = np.where(ua & ~ub, ca, np.where(ub & ~ua, cb, loser))
            loser = loser[(excess[loser] >= 0) | ua | ub]
            if not len(loser):
                break
            ok[loser] = False
        members = np.bincount(centre[ok], minlength=n)
        assigned = ok & (members[centre] >= 2)
        final[assigned] = centre[assigned]
        pool[assigned] = False
        # a component that formed no cluster gives up its centre, so every round progresses
        stuck = in_comp & ~assigned & (pos == centre)
        pool[stuck] = False
    # relabel: the smallest position of each cluster
    labels = np.full(n, n, dtype=np.int64)
    np.minimum.at(labels, final, pos)
    return labels[final]
