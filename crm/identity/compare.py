"""Candidate pairs (blocking) and their comparison levels.

Blocking never compares all pairs: records are grouped by several keys (phone, email,
email local part, postcode with a name prefix, birth date with initials, the full name
pair, the address, an external id). Inside a group of at most ``max_block`` records every
pair is a candidate; a bigger group is sorted by name and each record is paired with its
``window`` next neighbours only (the sorted-neighbourhood method), so the pair count grows
linearly with the data.

Comparisons are done per pair with :mod:`rapidfuzz` (``process.cpdist``: element-wise, in
C++, on two threads), once per *distinct* pair of values. Each field is reduced to a
level (``-1`` missing, ``0`` disagree, higher = closer), which is what the
Fellegi–Sunter model weighs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from crm.identity.arrays import distinct, distinct_inverse
from crm.identity.keys import Field, Keys
from crm.identity.names import equivalent, fold_codes, sound_key

__all__ = [
    "ESTABLISHED_COUNT",
    "ESTABLISHED_RATIO",
    "FIELDS",
    "Comparison",
    "candidate_pairs",
    "compare",
    "joint_codes",
    "one_letter_spelling",
    "two_names",
    "year_typo",
]

#: Compared fields and their number of agreement levels (level 0 is "disagree").
FIELDS: dict[str, int] = {
    "first_name": 4,
    "last_name": 4,
    "middle_name": 3,
    "gender": 2,
    "birth_date": 3,
    "phone": 3,
    "email": 3,
    "address": 3,
    "postcode": 3,
    "external_id": 3,
}

_WORKERS = 2
#: Share of ``max_block``/``window`` for rules keyed on names alone (big groups of namesakes).
_NAME_ONLY = {"full_name": 0.15, "postcode_name": 0.25}


# --------------------------------------------------------------------------- blocking
def joint_codes(fields: list[Field]) -> list[np.ndarray]:
    """Codes of several columns of one kind in one shared code space."""
    if len(fields) == 1:
        return [fields[0].codes]
    strings = np.concatenate([f.strings() for f in fields])
    codes, _ = pd.factorize(pd.Series(strings, dtype=object), use_na_sentinel=True)
    return np.split(codes.astype(np.int64), len(fields))


def _prefix_codes(f: Field, n: int) -> np.ndarray:
    pre = pd.Series(f.values, dtype="str").str[:n]
    pc, _ = pd.factorize(pre, use_na_sentinel=True)
    out = np.full(len(f.codes), -1, dtype=np.int64)
    ok = f.codes >= 0
    out[ok] = pc[f.codes[ok]]
    return out


def _combine(*codes: np.ndarray) -> np.ndarray:
    """One int64 key from several code arrays; missing (``-1``) if any part is missing."""
    out = np.zeros(len(codes[0]), dtype=np.int64)
    bad = np.zeros(len(codes[0]), dtype=bool)
    for c in codes:
        c = np.asarray(c, dtype=np.int64)
        bad |= c < 0
        out = out * (int(c.max(initial=0)) + 2) + c
    out[bad] = -1
    return out


def _vocab_rank(f: Field) -> np.ndarray:
    """Alphabetical rank of each record's value (``-1`` where missing: first)."""
    order = np.argsort(f.values.astype(str), kind="stable") if len(f.values) else np.empty(0)
    rank = np.empty(len(f.values), dtype=np.int64)
    rank[order.astype(np.int64)] = np.arange(len(f.values), dtype=np.int64)
    return np.where(f.codes >= 0, rank[np.maximum(f.codes, 0)] if len(rank) else -1, -1)


def _sort_rank(keys: Keys) -> np.ndarray:
    """Rank by (surname, first name, postcode, birth date): neighbours in a big block are alike."""
    parts = [_vocab_rank(keys.last), _vocab_rank(keys.first)]
    if keys.postcode is not None:
        parts.append(_vocab_rank(keys.postcode))
    parts.append(keys.birth.astype(np.int64))  # NaT is the smallest: missing first
    order = np.lexsort(parts[::-1])
    rank = np.empty(keys.n, dtype=np.int64)
    rank[order] = np.arange(keys.n, dtype=np.int64)
    return rank


def _pairs_from_key(
    rec: np.ndarray, key: np.ndarray, rank: np.ndarray, max_block: int, window: int
) -> np.ndarray:
    ok = key >= 0
    rec, key = rec[ok], key[ok]
    if len(rec) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((rank[rec], key))
    rec, key = rec[order], key[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[start, len(key)])
    if counts.max() < 2:
        return np.empty((0, 2), dtype=np.int64)
    size = np.repeat(counts, counts)
    left = np.repeat(start + counts, counts) - np.arange(len(key))  # records after me in my group
    reach = np.where(size <= max_block, left - 1, np.minimum(left - 1, window))
    alive = np.flatnonzero(reach >= 1)
    out = []
    d = 1
    while len(alive):
        out.append(np.column_stack((rec[alive], rec[alive + d])))
        d += 1
        alive = alive[reach[alive] >= d]
    return np.concatenate(out)


def candidate_pairs(
    keys: Keys, max_block: int = 40, window: int = 15, rules: tuple[str, ...] | None = None
) -> tuple[np.ndarray, dict[str, int]]:
    """Candidate record pairs ``(a, b)`` with ``a < b`` from several blocking keys.

    Parameters
    ----------
    keys : Keys
        Prepared comparison keys.
    max_block : int
        Groups up to this size are compared all-pairs.
    window : int
        In a bigger group each record meets its ``window`` neighbours in name order.
    rules : tuple of str, optional
        Which blocking keys to use (default: every one the data supports).

    Returns
    -------
    pairs : numpy.ndarray of shape (n_pairs, 2)
    per_rule : dict
        Pairs each rule produced (before the union), for the run summary.
    """
    n = keys.n
    rank = _sort_rank(keys)
    rid = np.arange(n, dtype=np.int64)
    first_p2, last_p2 = _prefix_codes(keys.first, 2), _prefix_codes(keys.last, 2)
    # names share one code space (see keys.prepare), so a swapped record lands in the same block
    name_lo = np.minimum(keys.first.codes, keys.last.codes)
    name_hi = np.maximum(keys.first.codes, keys.last.codes)
    born, _ = pd.factorize(pd.Series(keys.birth), use_na_sentinel=True)
    init_f, init_l = _prefix_codes(keys.first, 1), _prefix_codes(keys.last, 1)
    candidates: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, fields in (
        ("phone", keys.phones),
        ("email", keys.emails),
        ("email_local", keys.locals_),
        ("address", keys.addresses),
    ):
        if fields:
            codes = joint_codes(fields)
            if name == "address" and keys.postcode is not None:
                codes = [_combine(c, keys.postcode.codes) for c in codes]
            candidates[name] = [(rid, c) for c in codes]
    if keys.postcode is not None:
        pc = keys.postcode.codes
        candidates["postcode_name"] = [(rid, _combine(pc, first_p2)), (rid, _combine(pc, last_p2))]
    candidates["birth_initials"] = [
        (rid, _combine(born, np.minimum(init_f, init_l), np.maximum(init_f, init_l)))
    ]
    candidates["full_name"] = [(rid, _combine(name_lo, name_hi))]
    if keys.external_id is not None:
        candidates["external_id"] = [(rid, keys.external_id.codes)]
    per_rule: dict[str, int] = {}
    found = []
    for name, parts in candidates.items():
        if rules is not None and name not in rules:
            continue
        # a rule's several columns share one namespace: a record's phone 2 meets another's phone 1
        rec = np.concatenate([p[0] for p in parts])
        key = np.concatenate([p[1] for p in parts])
        # a name-only key makes big groups of namesakes: fewer pairs each, nearest first
        small = _NAME_ONLY.get(name, 1.0)
        pairs = _pairs_from_key(
            rec, key, rank, max(2, int(max_block * small)), max(1, int(window * small))
        )
        per_rule[name] = len(pairs)
        found.append(pairs)
    allp = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    a, b = np.minimum(allp[:, 0], allp[:, 1]), np.maximum(allp[:, 0], allp[:, 1])
    code = distinct(a[a != b] * n + b[a != b])
    return np.column_stack((code // n, code % n)), per_rule


# --------------------------------------------------------------------------- comparison
def _sim(
    ca: np.ndarray,
    cb: np.ndarray,
    values: np.ndarray,
    scorer: Callable[..., float],
    scale: float = 1.0,
) -> np.ndarray:
    """Similarity per pair of codes (``nan`` if either is missing), once per distinct pair."""
    out = np.full(len(ca), np.nan)
    both = (ca >= 0) & (cb >= 0)
    same = both & (ca == cb)
    out[same] = 1.0
    todo = np.flatnonzero(both & ~same)
    if len(todo):
        v = np.int64(len(values))
        pair = ca[todo] * v + cb[todo]
        uniq, inv = distinct_inverse(pair)
        sims = cpdist(
            values[uniq // v], values[uniq % v], scorer=scorer, workers=_WORKERS, dtype=np.float32
        )
        out[todo] = np.asarray(sims, dtype=np.float64)[inv] / scale
    return out


def _lev_close(ca: np.ndarray, cb: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Level 2 equal, 1 one edit apart, 0 further, -1 missing."""
    lev = np.full(len(ca), -1, dtype=np.int8)
    both = (ca >= 0) & (cb >= 0)
    lev[both] = 0
    lev[both & (ca == cb)] = 2
    todo = np.flatnonzero(both & (ca != cb))
    if len(todo):
        v = np.int64(len(values))
        uniq, inv = distinct_inverse(ca[todo] * v + cb[todo])
        dist = cpdist(
            values[uniq // v],
            values[uniq % v],
            scorer=Levenshtein.distance,
            workers=_WORKERS,
            score_cutoff=1,
        )
        lev[todo] = np.where(np.asarray(dist)[inv] <= 1, 1, 0)
    return lev


def _best(levels: list[np.ndarray]) -> np.ndarray:
    return np.maximum.reduce(levels) if len(levels) > 1 else levels[0]


def _multi(joint: list[np.ndarray], values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _best([_lev_close(x[a], y[b], values) for x in joint for y in joint])


def _joint_values(fields: list[Field]) -> tuple[list[np.ndarray], np.ndarray]:
    if len(fields) == 1:
        return [fields[0].codes], fields[0].values
    strings = np.concatenate([f.strings() for f in fields])
    codes, uniq = pd.factorize(pd.Series(strings, dtype=object), use_na_sentinel=True)
    return list(np.split(codes.astype(np.int64), len(fields))), np.asarray(uniq, dtype=object)


def _name_level(sim: np.ndarray, edits: np.ndarray) -> np.ndarray:
    """3 equal, 2 Jaro–Winkler ≥ 0.94, 1 ≥ 0.85 or one typo apart, 0 different, -1 missing."""
    lev = np.select([sim >= 0.999, sim >= 0.94, (sim >= 0.85) | (edits <= 1)], [3, 2, 1], 0).astype(
        np.int8
    )
    lev[np.isnan(sim)] = -1
    return lev


#: Latin letter groups that romanise one Cyrillic letter, longest first (``shch`` is ``щ``).
_ONE_LETTER = ("shch", "zh", "kh", "ts", "ch", "sh", "yu", "ya")


def one_letter_spelling(values: np.ndarray) -> np.ndarray:
    """Names with each romanised Cyrillic letter written as one character again.

    The comparison keys are romanised, so a typo of one Cyrillic letter (``Лэбовь`` for
    ``Любовь``: ``lebov``, ``lyubov``) would count as two edits; typo distances are taken
    on this spelling instead, where ``yu`` is one character (``lebov``, ``l1bov``).

    Examples
    --------
    >>> one_letter_spelling(np.array(["lyubov", "shchukin"], dtype=object)).tolist()
    ['l6bov', '0ukin']
    """
    s = pd.Series(values, dtype="str")
    for i, group in enumerate(_ONE_LETTER):
        s = s.str.replace(group, str(i), regex=False)
    return np.asarray(s.to_numpy(dtype=object), dtype=object)


def _oriented(ca: np.ndarray, cb: np.ndarray, values: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Typo distance (optimal string alignment) where Jaro–Winkler alone says "different".

    ``values`` is the vocabulary in :func:`one_letter_spelling`.
    """
    edits = np.full(len(ca), 99.0)
    low = np.flatnonzero(~np.isnan(sim) & (sim < 0.85))
    if len(low):
        edits[low] = _sim(ca[low], cb[low], values, OSA.distance)
    return edits


def year_typo(ya: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """Whether two years are one year apart, or one mistyped or two swapped digits apart.

    A year worked out from an age is often one off (1999, 2000); a typed one has a digit
    wrong (1975, 1976; 1961, 1991) or two neighbours swapped (1975, 1957), in the four
    digits or in the two a form asks for (``19.07.94`` typed ``19.07.04`` reads 2004). A
    father and a son born on one day and month 34 years apart (1971, 2005) are no typo.

    Parameters
    ----------
    ya, yb : numpy.ndarray of int
        Calendar years per pair.

    Examples
    --------
    >>> year_typo(np.array([1975, 1975, 1999, 1994, 1971]),
    ...           np.array([1976, 1957, 2000, 2004, 2005])).tolist()
    [True, True, True, True, False]
    """
    ya = np.asarray(ya, dtype=np.int64)
    yb = np.asarray(yb, dtype=np.int64)
    return _digit_typo(ya, yb, 4) | _digit_typo(ya % 100, yb % 100, 2) | (np.abs(ya - yb) == 1)


def _digit_typo(xa: np.ndarray, xb: np.ndarray, width: int) -> np.ndarray:
    """Numbers of ``width`` digits that differ in one digit or in two neighbours swapped."""
    da = [xa // 10**k % 10 for k in range(width - 1, -1, -1)]
    db = [xb // 10**k % 10 for k in range(width - 1, -1, -1)]
    differ = np.array([x != y for x, y in zip(da, db, strict=True)])
    count = differ.sum(axis=0)
    swapped = np.zeros(len(xa), dtype=bool)
    for k in range(width - 1):
        swapped |= differ[k] & differ[k + 1] & (da[k] == db[k + 1]) & (da[k + 1] == db[k])
    return (count == 1) | ((count == 2) & swapped)


#: A given name is one of the base's own names when this many records carry it...
ESTABLISHED_COUNT = 5
#: ...and a spelling is a name, not a typo of the other, when it is at least this common
#: relative to it: a typo of a name is rare beside it (about 1 in 100 or fewer).
ESTABLISHED_RATIO = 0.05


def two_names(keys: Keys, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Whether the given names of codes ``ca[i]`` and ``cb[i]`` are two names, not one mistyped.

    Both spellings are names the base itself holds often in the given-name slot (at least
    :data:`ESTABLISHED_COUNT` records each, the rarer at least :data:`ESTABLISHED_RATIO`
    as common as the other: a typo is rarely repeated), and they sound different
    (:func:`crm.identity.names.sound_key`: ``Katherine`` / ``Catherine`` and ``Eric`` /
    ``Erik`` are one name spelt two ways). Counting the base's own names needs no list,
    so it holds for names no table has (``Наина``, ``Карина``).

    Parameters
    ----------
    keys : Keys
        The prepared keys (the counts are over all their records).
    ca, cb : numpy.ndarray of int
        Codes of the two given names per pair (``-1`` missing: never two names).

    Returns
    -------
    numpy.ndarray of bool
    """
    ca = np.asarray(ca, dtype=np.int64)
    cb = np.asarray(cb, dtype=np.int64)
    codes = keys.first.codes
    count = np.bincount(codes[codes >= 0], minlength=len(keys.first.values) + 1).astype(float)
    na = np.where(ca >= 0, count[np.maximum(ca, 0)], 0.0)
    nb = np.where(cb >= 0, count[np.maximum(cb, 0)], 0.0)
    lo, hi = np.minimum(na, nb), np.maximum(na, nb)
    out = (ca != cb) & (lo >= ESTABLISHED_COUNT) & (lo >= ESTABLISHED_RATIO * hi)
    todo = np.flatnonzero(out)
    if len(todo):
        used = distinct(np.concatenate([ca[todo], cb[todo]]))
        sounds = pd.Series([sound_key(str(v)) for v in keys.first.values[used]], index=used)
        out[todo] = sounds.loc[ca[todo]].to_numpy() != sounds.loc[cb[todo]].to_numpy()
    return out


@dataclass
class Comparison:
    """Comparison of candidate pairs: record positions, levels per field, similarities.

    ``agreed`` holds, per field with term-frequency weights, the code of the value two
    records share exactly (``-1`` where they do not agree exactly). ``given_differs`` is
    True where the given names disagree (in a pair compared turned round, where either
    name part disagrees). ``generation_differs`` is True where the records carry different
    generation marks (``Jr.`` on one, none or ``Sr.`` on the other; see
    :func:`crm.identity.keys.name_keys`).
    """

    a: np.ndarray
    b: np.ndarray
    levels: pd.DataFrame
    similarity: pd.DataFrame
    agreed: dict[str, np.ndarray]
    given_differs: np.ndarray
    generation_differs: np.ndarray


def compare(keys: Keys, a: np.ndarray, b: np.ndarray) -> Comparison:
    """Levels and similarities of the record pairs ``(a[i], b[i])``.

    Names are compared both ways round and the better orientation is kept, so a record
    with the surname in the first-name slot still meets its twin. Levels: names 3 equal,
    2 Jaro–Winkler ≥ 0.94 or one name in another romanisation or everyday form
    (:mod:`crm.identity.names`), 1 ≥ 0.85, 0 below; birth date 2 equal, 1 one part differs
    (a year only by one mistyped or swapped digit, :func:`year_typo`) or day and month
    swapped, 0 different; phone, email, address, postcode, external id 2 equal, 1 close
    (one edit, the same email local part, the same address words), 0 different; gender 1
    agree, 0 differ; ``-1`` wherever either side is missing.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    names = keys.first.values  # first, last and middle share one vocabulary (keys.prepare)
    jw = JaroWinkler.normalized_similarity
    f, la = keys.first.codes, keys.last.codes
    s_ff, s_ll = _sim(f[a], f[b], names, jw), _sim(la[a], la[b], names, jw)
    s_fl, s_lf = _sim(f[a], la[b], names, jw), _sim(la[a], f[b], names, jw)
    # turned round only when a name part meets its like in the other slot: two middling
    # cross similarities (Антон/Тарасов, Тарасов/Тоха) must not outweigh an equal surname;
    # an everyday form of the given name counts as alike (САХАРОВА, Александра / Шура Сахарова)
    cross = np.flatnonzero(np.fmax(s_fl, s_lf) >= 0.94)
    turn = np.zeros(len(a), dtype=bool)
    if len(cross):
        ac, bc = a[cross], b[cross]
        alike = 0.95
        t_ff = np.where(equivalent(names, f[ac], f[bc]), np.fmax(s_ff[cross], alike), s_ff[cross])
        t_fl = np.where(equivalent(names, f[ac], la[bc]), np.fmax(s_fl[cross], alike), s_fl[cross])
        t_lf = np.where(equivalent(names, la[ac], f[bc]), np.fmax(s_lf[cross], alike), s_lf[cross])
        straight = np.nan_to_num(t_ff) + np.nan_to_num(s_ll[cross])
        swapped = np.nan_to_num(t_fl) + np.nan_to_num(t_lf)
        turn[cross] = swapped > straight + 0.1
    first_sim = np.where(turn, s_fl, s_ff)
    last_sim = np.where(turn, s_lf, s_ll)
    fb = np.where(turn, la[b], f[b])  # b's name part compared with a's first name
    lb = np.where(turn, f[b], la[b])
    letters = one_letter_spelling(names)
    first_edits = _oriented(f[a], fb, letters, first_sim)
    last_edits = _oriented(la[a], lb, letters, last_sim)
    first_level = _name_level(first_sim, first_edits)
    last_level = _name_level(last_sim, last_edits)
    # another romanisation (Iurii, Yuriy, Юрий) or an everyday form (Паша, Pavel; Bill,
    # William) of one given name is a close agreement, not a disagreement
    same_given = equivalent(names, f[a], fb)
    # two given names of this base spelt alike (Марина / Карина, Инна / Нина) are two
    # names, not a typo: twins and siblings are named so
    other_name = (first_level == 1) & ~same_given & two_names(keys, f[a], fb)
    first_level = np.where(other_name, 0, first_level).astype(np.int8)
    first_level = np.where(same_given & (first_level < 2), 2, first_level).astype(np.int8)
    # turned round, a's given name sits in its surname slot (САХАРОВА, Александра / Шура)
    same_given_l = turn & equivalent(names, la[a], lb)
    last_level = np.where(same_given_l & (last_level < 2), 2, last_level).astype(np.int8)
    fold = fold_codes(names)
    fa_, fb_ = fold[np.maximum(la[a], 0)], fold[np.maximum(lb, 0)]
    same_sur = (la[a] >= 0) & (lb >= 0) & (fa_ >= 0) & (fa_ == fb_)
    last_level = np.where(same_sur & (last_level < 2), 2, last_level).astype(np.int8)
    # turned round, either name part may be the given name: a shared surname must not
    # pass for a shared given name (spouses, siblings), so either part differing counts
    given_differs = np.where(turn, (first_level == 0) | (last_level == 0), first_level == 0)
    mid_sim = _sim(keys.middle.codes[a], keys.middle.codes[b], names, jw)
    mid = np.select([mid_sim >= 0.999, mid_sim >= 0.9], [2, 1], 0).astype(np.int8)
    mid[np.isnan(mid_sim)] = -1

    g = keys.gender.codes
    gender = np.where((g[a] < 0) | (g[b] < 0), -1, (g[a] == g[b]).astype(np.int8)).astype(np.int8)

    da, db = keys.birth[a], keys.birth[b]
    ya, yb = da.astype("datetime64[Y]"), db.astype("datetime64[Y]")
    ma, mb = da.astype("datetime64[M]"), db.astype("datetime64[M]")
    dda = (da - ma.astype("datetime64[D]")).astype(np.int64)
    ddb = (db - mb.astype("datetime64[D]")).astype(np.int64)
    mna = (ma - ya.astype("datetime64[M]")).astype(np.int64)
    mnb = (mb - yb.astype("datetime64[M]")).astype(np.int64)
    eq = (ya == yb).astype(int) + (mna == mnb) + (dda == ddb)
    # a differing year is a typo only one year, one digit or two swapped digits off
    # (year_typo): a father and a son born on one day and month 34 years apart differ
    years = ya.astype(np.int64) + 1970, yb.astype(np.int64) + 1970
    eq = eq - ((eq == 2) & (ya != yb) & ~year_typo(*years))
    # day and month swapped (04.02 against 02.04): both 0-based, day index d is day d + 1
    swap = (ya == yb) & (dda == mnb) & (ddb == mna) & (dda != ddb)
    birth = np.select([eq == 3, (eq == 2) | swap], [2, 1], 0).astype(np.int8)
    birth[np.isnat(da) | np.isnat(db)] = -1

    levels = {
        "first_name": first_level,
        "last_name": last_level,
        "middle_name": mid,
        "gender": gender,
        "birth_date": birth,
    }
    sims = {"first_name": first_sim, "last_name": last_sim, "middle_name": mid_sim}
    if keys.phones:
        joint, values = _joint_values(keys.phones)
        levels["phone"] = _multi(joint, values, a, b)
    if keys.emails:
        joint, values = _joint_values(keys.emails)
        lev = _multi(joint, values, a, b)
        ljoint, _ = _joint_values(keys.locals_)
        same_local = _best([((x[a] >= 0) & (x[a] == y[b])) for x in ljoint for y in ljoint])
        levels["email"] = np.where((lev == 0) & same_local, 1, lev).astype(np.int8)
    if keys.addresses:
        joint, values = _joint_values(keys.addresses)
        parts = []
        for x in joint:
            for y in joint:
                s = _sim(x[a], y[b], values, fuzz.token_set_ratio, scale=100.0)
                lev = np.select([s >= 0.999, s >= 0.9], [2, 1], 0).astype(np.int8)
                lev[np.isnan(s)] = -1
                parts.append(lev)
        levels["address"] = _best(parts)
    if keys.postcode is not None:
        levels["postcode"] = _lev_close(
            keys.postcode.codes[a], keys.postcode.codes[b], keys.postcode.values
        )
    if keys.external_id is not None:
        levels["external_id"] = _lev_close(
            keys.external_id.codes[a], keys.external_id.codes[b], keys.external_id.values
        )
    agreed = {
        "first_name": np.where(levels["first_name"] == 3, f[a], -1),
        "last_name": np.where(levels["last_name"] == 3, la[a], -1),
    }
    if keys.postcode is not None:
        pcodes = keys.postcode.codes
        agreed["postcode"] = np.where(levels["postcode"] == 2, pcodes[a], -1)
    return Comparison(
        a=a,
        b=b,
        levels=pd.DataFrame(levels),
        similarity=pd.DataFrame(sims),
        agreed=agreed,
        given_differs=given_differs,
        generation_differs=keys.generation[a] != keys.generation[b],
    )
