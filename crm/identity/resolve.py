"""Find duplicate people and households in any frame of person records (D6, D9).

The pipeline: normalise the columns named in ``roles`` (:mod:`crm.identity.keys`) ->
candidate pairs from blocking keys (:func:`crm.identity.compare.candidate_pairs`, never
all pairs) -> comparison levels per field -> Fellegi–Sunter weights (``u`` measured on
random pairs, ``m`` and the prior learned by EM, :class:`~crm.identity.model.FellegiSunter`)
-> a probability per pair -> pairs at or above ``threshold`` are joined into clusters
around a centre that every member matches, never holding two "different people"
(:mod:`crm.identity.cluster`), with a confidence.

A match needs more than a name: two records agreeing only on names (and a postcode) are
left apart, however high their score (:func:`corroborated`).

Some disagreements say "two people" whatever else agrees: a different gender, a different
first name, a different birth date, a different patronymic. Such a pair is never a match;
when it shares a phone, an email or an address it is a *household* (spouses, a parent and a
child, companions) and is reported as a link, never merged.

Some pairs the records cannot settle: two cards of one given name and surname at one home,
one of them without a birth date, whose own contacts differ (another mailbox, another
mobile). They are one person who once left the date out and wrote another address, or a
parent and an adult child of one name, and nothing in the two cards tells which
(:func:`maybe_same`). Such a pair is neither merged nor called a household: it is reported
in :attr:`DuplicateResult.maybe_same`, for a person to decide (``crm dedup --review``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm.identity.cluster import ambiguous_matches, centre_clusters, component_pairs, components
from crm.identity.compare import FIELDS, Comparison, candidate_pairs, compare, joint_codes
from crm.identity.errors import IdentityError, RoleError
from crm.identity.keys import Field, Keys, prepare
from crm.identity.model import DEFAULT_U, FellegiSunter

__all__ = [
    "CORROBORATING",
    "DEFAULT_DIFFERENT_IF",
    "TRAIN_SAMPLE",
    "DuplicateResult",
    "corroborated",
    "estimate_u",
    "find_duplicates",
    "generation_conflict",
    "household_evidence",
    "match_to_existing",
    "maybe_same",
    "pair_quality",
    "personal_ties",
]

#: Fields whose disagreement means "two different people" (pairs are never merged).
DEFAULT_DIFFERENT_IF = ("gender", "first_name", "birth_date", "middle_name")
_EXACT_FIELDS = ("phone", "email", "address", "postcode", "external_id")


@dataclass
class DuplicateResult:
    """What :func:`find_duplicates` found.

    Attributes
    ----------
    pairs : pandas.DataFrame
        Scored pairs worth a look (matches, near misses, households): ``id_a``, ``id_b``,
        ``score`` (probability of one person), ``weight`` (evidence in bits), ``is_match``,
        ``different_people`` (a disagreement that rules a merge out), ``household``,
        ``maybe_same`` (see :func:`maybe_same`), then a
        level per compared field (``lvl_<field>``) and name similarities (``sim_<field>``).
    clusters : pandas.DataFrame
        One row per record: ``record_id``, ``cluster_id`` (the id of the cluster's first
        record in frame order), ``cluster_size``, ``confidence`` (weakest match in the
        cluster; for a record alone, one minus its best candidate's score).
    households : pandas.DataFrame
        ``id_a``, ``id_b``, ``shared`` (``phone``, ``email``, ``address``, comma-joined):
        different people sharing a phone or an address (with the postcode), or an email when
        their first names differ; records of one cluster excluded.
    maybe_same : pandas.DataFrame
        ``id_a``, ``id_b``, ``shared``: pairs sharing a home that may be one person or two
        of one name (:func:`maybe_same`), neither merged nor in ``households``; for review.
    model : FellegiSunter
        The fitted model (``model.weights_table()`` shows the weights).
    stats : dict
        Record and pair counts, pairs per blocking rule, seconds per step.
    """

    pairs: pd.DataFrame
    clusters: pd.DataFrame
    households: pd.DataFrame
    model: FellegiSunter
    stats: dict[str, object] = field(default_factory=dict)
    maybe_same: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"id_a": [], "id_b": [], "shared": []})
    )


def estimate_u(keys: Keys, sample: int = 200_000, seed: int = 0) -> dict[str, np.ndarray]:
    """Level probabilities among *non-matching* pairs, measured on random record pairs.

    A frame of fewer than 1,000 records is too small to measure; it gets the set
    :data:`~crm.identity.model.DEFAULT_U`. Exact agreement on identifying fields (phone, email, address, postcode, external id) is
    so rare among random pairs that a sample would see none; for those the chance that two
    random records share a value is computed from the value frequencies instead
    (``sum(p_v ** 2)``).
    """
    n = keys.n
    if n < _MIN_MEASURE:
        return {f: np.asarray(v, dtype=float) / sum(v) for f, v in DEFAULT_U.items()}
    rng = np.random.default_rng(seed)
    k = int(min(sample, n * (n - 1) // 2))
    a = rng.integers(0, n, k)
    b = rng.integers(0, n - 1, k)
    b = b + (b >= a)
    levels = compare(keys, a, b).levels
    u: dict[str, np.ndarray] = {}
    floor = 0.5 / max(k, 1)
    for f in levels.columns:
        lev = levels[f].to_numpy()
        ok = lev >= 0
        counts = np.bincount(lev[ok], minlength=FIELDS[f]).astype(float)
        probs = counts / max(counts.sum(), 1.0)
        if f in _EXACT_FIELDS:
            exact = _collision_probability(keys, f)
            rest = probs[:-1] / max(probs[:-1].sum(), 1e-12) * (1 - exact)
            probs = np.concatenate([rest, [exact]])
        probs = np.maximum(probs, floor)
        u[f] = probs / probs.sum()
    return u


def _collision_probability(keys: Keys, f: str) -> float:
    fields = {
        "phone": keys.phones,
        "email": keys.emails,
        "address": keys.addresses,
        "postcode": [keys.postcode] if keys.postcode is not None else [],
        "external_id": [keys.external_id] if keys.external_id is not None else [],
    }[f]
    codes = np.concatenate([x.codes for x in fields if x is not None]) if fields else np.empty(0)
    codes = codes[codes >= 0].astype(np.int64)
    if len(codes) < 2:
        return 1e-6
    p = np.bincount(codes) / len(codes)
    return float(max((p**2).sum(), 1e-9))


def _vetoes(comp: Comparison, different_if: Iterable[str]) -> np.ndarray:
    """Pairs whose fields say "two people" (``different_if``), unless an external id agrees."""
    levels = comp.levels
    different = np.zeros(len(levels), dtype=bool)
    for f in different_if:
        if f in levels:
            # given names: turned-round pairs count either name part (Comparison.given_differs)
            veto = comp.given_differs if f == "first_name" else levels[f].to_numpy() == 0
            different |= veto
    # a shared person-level id (passport, card) outweighs a disagreement in the details
    # typed next to it: a nickname, a mistyped or swapped birth date
    return different & ~_same_id(levels)


def _same_id(levels: pd.DataFrame) -> np.ndarray:
    if "external_id" not in levels:
        return np.zeros(len(levels), dtype=bool)
    return levels["external_id"].to_numpy() == FIELDS["external_id"] - 1


def _score(
    keys: Keys,
    comp: Comparison,
    model: FellegiSunter | str,
    different_if: Iterable[str],
    seed: int,
    train_extra: Comparison | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, FellegiSunter]:
    """Score ``comp``'s pairs; the model learns from them (and ``train_extra``'s, if given)."""
    levels = comp.levels
    different = _vetoes(comp, different_if)
    if train_extra is not None and len(train_extra.a):
        all_levels = pd.concat([levels, train_extra.levels], ignore_index=True)
        train_mask = ~np.concatenate([different, _vetoes(train_extra, different_if)])
    else:
        all_levels, train_mask = levels, ~different
    if isinstance(model, str):
        if model not in ("em", "fixed"):
            raise IdentityError(f"model must be 'em', 'fixed' or a FellegiSunter, not {model!r}")
        u = estimate_u(keys, seed=seed)
        train = all_levels[train_mask]
        m = _seed_m(train) if model == "em" else {}
        if model == "em" and len(train) >= _MIN_EM:
            # enough pairs: u and the prior among the candidates are learned by EM, with the
            # seeded m where there were seeds and the set m elsewhere. Not set weights with u
            # of random pairs: a base already deduplicated has few seeds, and those weights
            # would take every mailbox two namesakes share (an address made of the name) for
            # proof, merging different people on a rerun.
            fs = FellegiSunter(u=u, m=m, fit_m=False, fit_u=True).fit(train)
        else:
            # set weights: u from random pairs, and the prior of a random pair being a match
            prior = min(0.5, 2 * _DUPLICATE_SHARE / max(keys.n - 1, 1))
            fs = FellegiSunter(u=u, m=m, prior=prior, max_iter=0).fit(
                train if len(train) else all_levels
            )
    else:
        fs = model if hasattr(model, "m_") else model.fit(all_levels[train_mask])
    if "birth_date" in different_if:
        # a decision, not a disagreement of fields: the model still learns from these pairs
        different |= undated_conflict(levels, comp.similarity) & ~_same_id(levels)
        # the younger and the elder of one name: apart unless something personal ties
        # them and no own contact contradicts it (a family mailbox with two mobiles)
        tied = personal_ties(keys, comp, different) & ~_contact_conflict(levels)
        different |= generation_conflict(comp) & ~tied
    weight = fs.match_weight(levels) + _tf_adjustment(keys, comp)
    logit2 = weight + np.log2(fs.prior_ / (1 - fs.prior_))
    score = 1.0 / (1.0 + np.exp2(np.clip(-logit2, -1000, 1000)))
    return score, weight, different, fs


def undated_conflict(levels: pd.DataFrame, similarity: pd.DataFrame | None = None) -> np.ndarray:
    """Pairs that nothing personal ties together and whose own contacts say "two people".

    A parent and an adult child of one name share the surname, the address, the postcode,
    often the home phone and sometimes a family mailbox; when one record has no birth
    date nothing of that tells them from one person whose date was lost. Twins share all
    of it and the birth date; only their given names differ, sometimes by little (``Анна``,
    ``Иванна``). What is personal is the mobile and the own mailbox. So a pair is two
    people (a household link when they share an address or a phone, never merged) when
    its emails differ (neither equal nor the same local part), or its phones differ and
    its emails are not one mailbox (the same local part on another domain is the name's:
    ``teresa.carlson@gmail.com``, ``teresa.carlson@yahoo.com``), and

    * one record has no birth date and no patronymic agrees, or
    * the given names are only alike (level 1: similar spelling, one typo apart), not
      one name, or one name only through the everyday-form table and spelt unlike
      (``Shirley``, ``Sherri``; ``Алла``, ``Александра``), and both the phones and the
      emails differ, or
    * one record has no given name (left empty or a placeholder such as ``asdf``) and
      the emails differ: a twin's card without a name shares the surname, the birth
      date, the patronymic, the home and often the phone with the other twin; only the
      own mailbox is the person's.

    A shared external id still overrides (see :func:`_score`). ``similarity`` (the
    comparison's, ``sim_first_name``) tells a name spelt unlike from one spelt alike.
    """
    out = np.zeros(len(levels), dtype=bool)
    if "birth_date" not in levels or "email" not in levels:
        return out
    email = levels["email"].to_numpy()
    phone = levels["phone"].to_numpy() if "phone" in levels else np.full(len(levels), -1)
    conflict = (email == 0) | ((phone == 0) & (email < 2))
    undated = (levels["birth_date"].to_numpy() == -1) & conflict
    if "middle_name" in levels:
        undated &= levels["middle_name"].to_numpy() != 2
    out = undated
    if "first_name" in levels:
        given = levels["first_name"].to_numpy()
        out |= (given == 1) & (email == 0) & (phone == 0)
        if similarity is not None and "first_name" in similarity:
            # one name only through the everyday-form table (Shirley / Sherri, Алла /
            # Александра), spelt unlike: as alike as level 1 for twins
            unlike = np.nan_to_num(similarity["first_name"].to_numpy(), nan=1.0) < 0.94
            out |= (given == 2) & unlike & (email == 0) & (phone == 0)
        out |= (given == -1) & (email == 0)
    return out


def _contact_conflict(levels: pd.DataFrame) -> np.ndarray:
    """Pairs whose phones or whose mailboxes differ (both present, neither close)."""
    out = np.zeros(len(levels), dtype=bool)
    for f in ("phone", "email"):
        if f in levels:
            out |= levels[f].to_numpy() == 0
    return out


def generation_conflict(comp: Comparison) -> np.ndarray:
    """Pairs where one record is marked the younger (or elder) of one name and the dates do not agree.

    ``Mitchell Jones Jr.`` says the household has another Mitchell Jones, his father, and
    so does ``Илья Ильич Булгаков`` (a son named after his father carries the father's name
    as his patronymic). A ``Mitchell Jones`` or ``Илья Булгаков`` without the mark and
    without a birth date (or with another mark) may be either of the two: not merged
    with the marked record (a household link when they share a home), unless a personal
    tie holds (:func:`personal_ties`: the same own mobile or mailbox, an external id)
    that no own contact contradicts: one mailbox that the father and the son both gave,
    with a mobile each, is the family's. With both birth dates equal (or a day and month
    swapped) they are one person; with different dates the birth-date veto already holds.
    """
    birth = comp.levels["birth_date"].to_numpy() if "birth_date" in comp.levels else None
    undated = birth < 1 if birth is not None else np.ones(len(comp.a), dtype=bool)
    return comp.generation_differs & undated


#: Fields that tie a record to one person beyond the name; a match needs one of them.
CORROBORATING = ("phone", "email", "birth_date", "address", "external_id")


def corroborated(levels: pd.DataFrame) -> np.ndarray:
    """Whether a pair agrees (at least closely) on something besides the name.

    Two records that share only a name, or a name and a postcode, are as likely namesakes
    as one person however rare the name: a merge needs a phone, an email, a birth date, an
    address or a person-level id that agree exactly or closely (level 1 or above).
    """
    out = np.zeros(len(levels), dtype=bool)
    for f in CORROBORATING:
        if f in levels:
            out |= levels[f].to_numpy() >= 1
    return out


def _tf_adjustment(keys: Keys, comp: Comparison) -> np.ndarray:
    """Term-frequency adjustment of exact agreements: a shared rare value says more.

    Adds ``log2(sum(p**2) / p_v)`` bits where two records share value ``v`` of a name or
    postcode (``p_v`` its share among the records): ``Коновалова`` in postcode ``381580``
    is stronger evidence than ``Smith`` in ``SW1A``.
    """
    out = np.zeros(len(comp.a))
    sources = {"first_name": keys.first.codes, "last_name": keys.last.codes}
    if keys.postcode is not None:
        sources["postcode"] = keys.postcode.codes
    for f, v in comp.agreed.items():
        codes = sources[f]
        codes = codes[codes >= 0]
        if len(codes) < 2 or not (v >= 0).any():
            continue
        p = np.bincount(codes) / len(codes)
        avg = float((p**2).sum())
        hit = v >= 0
        out[hit] += np.log2(avg / p[v[hit]])
    return out


_STRONG = ("phone", "email", "birth_date", "address", "external_id")
_MIN_TRAIN = 300
_MIN_EM = 2_000
_MIN_MEASURE = 1_000
#: Pairs of unchanged records an incremental run lets the model learn from (at least).
TRAIN_SAMPLE = 200_000
#: Assumed share of duplicate records when the data is too small to learn the prior.
_DUPLICATE_SHARE = 0.05


def _seed_m(train: pd.DataFrame) -> dict[str, np.ndarray]:
    """``m`` per field, measured on pairs that other fields make near-certain matches.

    EM over all candidate pairs can settle on the wrong mixture ("same first name" against
    "different first name"), so ``m`` is not learned that way. For each field, the seed
    pairs agree exactly on at least three *other* strong identifiers (phone, email, birth
    date, address, external id, and the full name counted as one); the field's level
    shares among them are its ``m``. Too few seeds (a small frame) leave the defaults.
    """
    strong = {f: train[f].to_numpy() == FIELDS[f] - 1 for f in _STRONG if f in train}
    if "first_name" in train and "last_name" in train:
        strong["names"] = (train["first_name"].to_numpy() == 3) & (
            train["last_name"].to_numpy() == 3
        )
    m: dict[str, np.ndarray] = {}
    for f in train.columns:
        others = [
            v
            for k, v in strong.items()
            if k != f and not (k == "names" and f in ("first_name", "last_name"))
        ]
        if len(others) < 3:
            continue
        seed = np.sum(others, axis=0) >= 3
        lev = train[f].to_numpy()[seed]
        lev = lev[lev >= 0]
        if len(lev) < _MIN_TRAIN // 3:
            continue
        counts = np.bincount(lev, minlength=FIELDS[f]) + 0.5
        m[f] = counts / counts.sum()
    return m


def personal_ties(keys: Keys, comp: Comparison, different: np.ndarray) -> np.ndarray:
    """Pairs that agree on something only one person has.

    An external id, a patronymic, or a phone or mailbox that no two different people of
    the compared pairs share (``different``): a landline or a family mailbox that a
    husband and a wife both gave is the household's, not a person's, and ties no one.

    Parameters
    ----------
    keys : Keys
        The prepared keys of the records.
    comp : Comparison
        The compared pairs.
    different : numpy.ndarray of bool
        Per pair: two different people.

    Returns
    -------
    numpy.ndarray of bool
        Per pair.
    """
    lv = comp.levels
    out = np.zeros(len(comp.a), dtype=bool)
    for f in ("external_id", "middle_name"):
        if f in lv:
            out |= lv[f].to_numpy() == FIELDS[f] - 1
    for fields in (keys.phones, keys.emails):
        if fields:
            out |= _own_value(fields, comp.a, comp.b, different)
    return out


def _own_value(
    fields: list[Field], a: np.ndarray, b: np.ndarray, different: np.ndarray
) -> np.ndarray:
    """Pairs sharing a value of ``fields`` that no ``different`` pair shares."""
    codes = joint_codes(fields)
    shared = []
    for x in codes:
        for y in codes:
            eq = (x[a] >= 0) & (x[a] == y[b])
            shared.append((eq, x[a]))
    household = np.zeros(max(int(c.max(initial=-1)) for c in codes) + 2, dtype=bool)
    for eq, val in shared:
        household[val[eq & different]] = True
    out = np.zeros(len(a), dtype=bool)
    for eq, val in shared:
        out |= eq & ~household[np.maximum(val, 0)]
    return out


def household_evidence(levels: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """What each pair shares that makes two people a household: ``(field, mask)`` per field.

    A phone, a mailbox or an address (level 2), where the two records do not live apart:
    a household lives at one place, so a pair whose postcodes differ (even by one letter)
    is no household whatever contact it shares (a mailbox or a phone typed into a
    stranger's card, a relative elsewhere). A mailbox shared by two people of one given
    name is a namesake clash, not a family. Which pairs are households is decided by :func:`find_duplicates`
    (sharing, and not one person).
    """
    apart = np.zeros(len(levels), dtype=bool)
    if "postcode" in levels:
        # another postcode, or one a letter apart (a neighbouring district, a typo)
        apart |= np.isin(levels["postcode"].to_numpy(), (0, 1))
    out = []
    for f in ("phone", "email", "address"):
        if f in levels:
            hit = (levels[f].to_numpy() == 2) & ~apart
            if f == "email" and "first_name" in levels:
                hit &= levels["first_name"].to_numpy() == 0
            out.append((f, hit))
    return out


def maybe_same(levels: pd.DataFrame) -> np.ndarray:
    """Pairs kept apart that the two records cannot tell from one person.

    The given names agree (one name, a diminutive or nickname of it, a romanisation or a
    spelling a typo apart) and one record has no birth date: the pair was kept apart only
    because its own contacts differ (:func:`undated_conflict`), an undated record matched
    two people of one name (:func:`~crm.identity.cluster.ambiguous_matches`) or one record
    is marked ``Jr.`` (:func:`generation_conflict`). A parent and an adult child of one
    name look so, and so does one person who once left the date out and gave another
    mailbox: on the hard set of ``bench/bench_dedup.py`` such pairs sharing a home were
    two people 504 times and one person 232 times, on the independent bilingual set 570
    and 531 times. So they are not called a household either. Two records whose birth
    dates both exist and differ are two people (the birth-date veto), and given names
    that differ are two people: those stay households.
    """
    out = np.zeros(len(levels), dtype=bool)
    if "first_name" not in levels or "birth_date" not in levels:
        return out
    return (levels["first_name"].to_numpy() >= 1) & (levels["birth_date"].to_numpy() == -1)


def _banned(ids: np.ndarray, n: int, cannot_link: pd.DataFrame | None) -> np.ndarray:
    """Pair codes ``lo * n + hi`` of the ``cannot_link`` pairs (merges a person undid)."""
    if cannot_link is None or not len(cannot_link):
        return np.empty(0, dtype=np.int64)
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    ca = pos.reindex(cannot_link["id_a"].to_numpy()).to_numpy()
    cb = pos.reindex(cannot_link["id_b"].to_numpy()).to_numpy()
    okc = ~(np.isnan(ca) | np.isnan(cb))
    lo = np.minimum(ca[okc], cb[okc]).astype(np.int64)
    hi = np.maximum(ca[okc], cb[okc]).astype(np.int64)
    return lo * n + hi


def _decide(
    comp: Comparison,
    score: np.ndarray,
    different: np.ndarray,
    threshold: float,
    n: int,
    banned: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``is_match`` and ``different`` per pair; an undone merge is two different people."""
    if len(banned):
        different = different | np.isin(comp.a * n + comp.b, banned)
    return (score >= threshold) & ~different & corroborated(comp.levels), different


def _concat(x: Comparison, y: Comparison) -> Comparison:
    return Comparison(
        a=np.concatenate([x.a, y.a]),
        b=np.concatenate([x.b, y.b]),
        levels=pd.concat([x.levels, y.levels], ignore_index=True),
        similarity=pd.concat([x.similarity, y.similarity], ignore_index=True),
        agreed={k: np.concatenate([v, y.agreed[k]]) for k, v in x.agreed.items()},
        given_differs=np.concatenate([x.given_differs, y.given_differs]),
        generation_differs=np.concatenate([x.generation_differs, y.generation_differs]),
    )


def _record_ids(frame: pd.DataFrame, id_col: str | None) -> np.ndarray:
    if id_col is None:
        return frame.index.to_numpy()
    if id_col not in frame.columns:
        raise RoleError(id_col, "id_col is not a column of the frame")
    ids = frame[id_col]
    if ids.isna().any() or ids.duplicated().any():
        raise RoleError(id_col, "record ids must be present and unique")
    return ids.to_numpy()


def find_duplicates(
    frame: pd.DataFrame,
    roles: Mapping[str, str],
    threshold: float = 0.5,
    *,
    id_col: str | None = None,
    model: FellegiSunter | str = "em",
    different_if: Iterable[str] = DEFAULT_DIFFERENT_IF,
    cannot_link: pd.DataFrame | None = None,
    default_region: str = "RU",
    max_block: int = 40,
    window: int = 15,
    keep_pairs_above: float = 0.1,
    seed: int = 0,
    changed: Iterable[object] | None = None,
    keys: Keys | None = None,
) -> DuplicateResult:
    """Find records of the same person, and households, in a frame of person records.

    Parameters
    ----------
    frame : pandas.DataFrame
        One person record per row, any column names.
    roles : mapping of column -> kind
        Which column holds what: ``first_name``, ``last_name``, ``middle_name``,
        ``full_name``, ``gender``, ``birth_date``, ``address``, ``city``, ``postcode``,
        ``phone``, ``email``, ``external_id`` (a person-level id such as a passport or loyalty
        card number). ``phone``, ``email`` and ``address`` may name several columns.
    threshold : float
        Pairs whose match probability reaches it are merged into clusters.
    id_col : str, optional
        Column with unique record ids (default: the frame's index).
    model : {"em", "fixed"} or FellegiSunter
        ``"em"`` learns the weights from the data (no labels needed); ``"fixed"`` uses the
        default ``m`` with ``u`` measured on the data; or pass a fitted model.
    different_if : fields
        A disagreement on any of these rules a merge out (see :data:`DEFAULT_DIFFERENT_IF`).
    cannot_link : pandas.DataFrame, optional
        ``id_a``, ``id_b`` pairs that must not be matched (merges a person undid).
    default_region : str
        Region for phone numbers written without a country code.
    max_block, window : int
        Blocking: groups up to ``max_block`` are compared all-pairs, bigger ones by a sliding
        window of ``window`` neighbours in name order.
    keep_pairs_above : float
        Non-matching pairs with at least this score are kept in ``pairs`` for review.
    seed : int
        Seed of the random pairs that measure ``u``.
    changed : record ids, optional
        An incremental run (a later night): only the candidate pairs with at least one of
        these records (new or changed since the last run) are scored and clustered, each
        matched against the whole frame through the blocking keys; pairs of two other
        records are taken as settled (the base was deduplicated before). The model
        learns from the changed records' pairs and a seeded sample of the others'
        (:data:`TRAIN_SAMPLE` pairs at least), so on a base of up to that many candidate
        pairs it is the full run's model and the decisions are the full run's.
    keys : Keys, optional
        The frame's keys, already prepared from ``roles`` (one per row, in order), as
        :func:`crm.identity.job.plan_dedup` keeps them from one round to the next
        (:meth:`~crm.identity.keys.Keys.take`); default: prepared from ``frame``.

    Returns
    -------
    DuplicateResult

    Examples
    --------
    >>> roles = {"Фамилия": "last_name", "Имя": "first_name", "Телефон": "phone",
    ...          "E-mail": "email", "Дата рождения": "birth_date", "Индекс": "postcode"}
    >>> result = find_duplicates(export, roles, threshold=0.9)
    >>> result.clusters.query("cluster_size > 1")
    """
    if not 0.0 < threshold <= 1.0:
        raise IdentityError(f"threshold must be in (0, 1], not {threshold}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ids = _record_ids(frame, id_col)
    if keys is None:
        keys = prepare(frame, roles, default_region=default_region)
    elif keys.n != len(frame):
        raise IdentityError(f"keys of {keys.n} records for a frame of {len(frame)} rows")
    timings["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    pairs, per_rule = candidate_pairs(keys, max_block=max_block, window=window)
    timings["blocking"] = time.perf_counter() - t

    extra = None
    if changed is not None:
        touched = np.isin(ids, np.asarray(list(changed), dtype=ids.dtype))
        mine = touched[pairs[:, 0]] | touched[pairs[:, 1]]
        rest = np.flatnonzero(~mine)
        take = min(len(rest), max(TRAIN_SAMPLE, int(mine.sum())))
        sample = np.sort(np.random.default_rng(seed).choice(rest, take, replace=False))
        per_rule = {**per_rule, "changed_records": int(touched.sum())}
        extra = pairs[sample]
        pairs = pairs[mine]

    t = time.perf_counter()
    comp = compare(keys, pairs[:, 0], pairs[:, 1])
    train_extra = compare(keys, extra[:, 0], extra[:, 1]) if extra is not None else None
    timings["compare"] = time.perf_counter() - t

    t = time.perf_counter()
    score, weight, different, fs = _score(keys, comp, model, different_if, seed, train_extra)
    timings["model"] = time.perf_counter() - t

    t = time.perf_counter()
    banned = _banned(ids, keys.n, cannot_link)
    is_match, different = _decide(comp, score, different, threshold, keys.n, banned)
    # every pair inside a small component, so the clustering sees the pairs blocking skipped
    ea, eb = component_pairs(components(keys.n, comp.a[is_match], comp.b[is_match]))
    if len(ea):
        new = ~np.isin(ea * keys.n + eb, comp.a * keys.n + comp.b)
        ea, eb = ea[new], eb[new]
    if len(ea):
        extra = compare(keys, ea, eb)
        s2, w2, d2, _ = _score(keys, extra, fs, different_if, seed)
        m2, d2 = _decide(extra, s2, d2, threshold, keys.n, banned)
        comp = _concat(comp, extra)
        score, weight = np.concatenate([score, s2]), np.concatenate([weight, w2])
        is_match, different = np.concatenate([is_match, m2]), np.concatenate([different, d2])
    a, b = comp.a, comp.b
    # an undated record matching two people of one name joins neither (cluster.ambiguous_matches)
    tie = personal_ties(keys, comp, different)
    # two people of one given name (born years apart, a Jr. and his father, one mailbox each)
    namesakes = different & (comp.levels["first_name"].to_numpy() >= 2)
    withdrawn = ambiguous_matches(keys.n, a, b, is_match, namesakes, np.isnat(keys.birth), tie)
    is_match &= ~withdrawn
    different |= withdrawn
    # two people of one name told apart by the undated rules: an undated member one of
    # them vetoes leaves the cluster (a typed-over birth date is no such proof)
    told_apart = (
        undated_conflict(comp.levels, comp.similarity) | comp.generation_differs | withdrawn
    )
    labels = centre_clusters(
        keys.n, a, b, score, is_match, different, np.isnat(keys.birth), namesakes & told_apart
    )
    is_match &= labels[a] == labels[b]
    # cluster id: the id of the cluster's first record in frame order
    first_pos = pd.Series(np.arange(keys.n)).groupby(labels).transform("min").to_numpy()
    size = np.bincount(labels)[labels]
    conf = np.ones(keys.n)
    weakest = np.full(labels.max() + 1 if keys.n else 0, np.inf)
    np.minimum.at(weakest, labels[a[is_match]], score[is_match])
    best_other = np.zeros(keys.n)
    np.maximum.at(best_other, a[~is_match], score[~is_match])
    np.maximum.at(best_other, b[~is_match], score[~is_match])
    conf = np.where(size > 1, weakest[labels], 1.0 - best_other)
    clusters = pd.DataFrame(
        {
            "record_id": ids,
            "cluster_id": ids[first_pos],
            "cluster_size": size,
            "confidence": conf,
        }
    )

    lv = comp.levels
    shared_parts = household_evidence(lv)
    shares = np.zeros(len(a), dtype=bool)
    for _, hit in shared_parts:
        shares |= hit
    linked = shares & ~is_match & (labels[a] != labels[b]) & (different | (score < threshold))
    unsure = linked & maybe_same(lv)
    household = linked & ~unsure
    shared = np.full(len(a), "", dtype=object)
    for f, hit in shared_parts:
        shared = np.where(hit & linked, np.where(shared == "", f, shared + "," + f), shared)
    households = pd.DataFrame(
        {"id_a": ids[a[household]], "id_b": ids[b[household]], "shared": shared[household]}
    )
    review = pd.DataFrame(
        {"id_a": ids[a[unsure]], "id_b": ids[b[unsure]], "shared": shared[unsure]}
    )

    keep = is_match | linked | (score >= keep_pairs_above)
    out = pd.DataFrame(
        {
            "id_a": ids[a[keep]],
            "id_b": ids[b[keep]],
            "score": score[keep],
            "weight": weight[keep],
            "is_match": is_match[keep],
            "different_people": different[keep],
            "household": household[keep],
            "maybe_same": unsure[keep],
        }
    )
    for f in lv.columns:
        out[f"lvl_{f}"] = lv[f].to_numpy()[keep]
    for f in comp.similarity.columns:
        out[f"sim_{f}"] = comp.similarity[f].to_numpy()[keep]
    timings["cluster"] = time.perf_counter() - t
    stats: dict[str, object] = {
        "records": keys.n,
        "candidate_pairs": len(a),
        "pairs_per_rule": per_rule,
        "matched_pairs": int(is_match.sum()),
        "clusters": int((np.bincount(labels) > 1).sum()),
        "records_in_clusters": int((size > 1).sum()),
        "household_pairs": int(household.sum()),
        "maybe_same_pairs": int(unsure.sum()),
        "seconds": timings,
    }
    return DuplicateResult(
        pairs=out.reset_index(drop=True),
        clusters=clusters,
        households=households,
        model=fs,
        stats=stats,
        maybe_same=review,
    )


def match_to_existing(
    new_rows: pd.DataFrame,
    existing: pd.DataFrame,
    roles: Mapping[str, str],
    *,
    id_col: str = "customer_id",
    threshold: float = 0.5,
    model: FellegiSunter | str = "em",
    different_if: Iterable[str] = DEFAULT_DIFFERENT_IF,
    default_region: str = "RU",
    max_block: int = 40,
    window: int = 15,
    seed: int = 0,
) -> pd.DataFrame:
    """Match incoming rows to people already in the base (the D9 import hook).

    Both frames carry the columns named in ``roles`` (the same names); ``existing`` also
    carries ``id_col``. Only pairs of one new row and one existing person are compared.

    Returns
    -------
    pandas.DataFrame
        ``new_row_index`` (the index label of the new row), ``existing_customer_id`` (the
        matching ``id_col`` value) and ``score``: one row per new row that matches someone,
        the best match only. A row not listed is a new person.

    Examples
    --------
    >>> hits = match_to_existing(rows, customers, roles)
    >>> rows.loc[hits.new_row_index, "customer_id"] = hits.existing_customer_id.to_numpy()
    """
    cols = list(roles)
    missing = [c for c in cols if c not in new_rows.columns or c not in existing.columns]
    if missing:
        raise RoleError(missing[0], "must be a column of both new_rows and existing")
    if id_col not in existing.columns:
        raise RoleError(id_col, "id_col is not a column of existing")
    empty = pd.DataFrame(
        {
            "new_row_index": pd.Series([], dtype=object),
            "existing_customer_id": pd.Series([], dtype=existing[id_col].dtype),
            "score": pd.Series([], dtype=float),
        }
    )
    if new_rows.empty or existing.empty:
        return empty
    both = pd.concat([existing[cols], new_rows[cols]], ignore_index=True)
    n_old = len(existing)
    keys = prepare(both, roles, default_region=default_region)
    pairs, _ = candidate_pairs(keys, max_block=max_block, window=window)
    cross = (pairs[:, 0] < n_old) & (pairs[:, 1] >= n_old)
    pairs = pairs[cross]
    if not len(pairs):
        return empty
    comp = compare(keys, pairs[:, 0], pairs[:, 1])
    score, _, different, _ = _score(keys, comp, model, different_if, seed)
    ok = (score >= threshold) & ~different & corroborated(comp.levels)
    hits = pd.DataFrame(
        {"old": comp.a[ok], "new": comp.b[ok] - n_old, "score": score[ok]}
    ).sort_values(["new", "score", "old"], ascending=[True, False, True])
    hits = hits.drop_duplicates("new")
    return pd.DataFrame(
        {
            "new_row_index": new_rows.index.to_numpy()[hits["new"].to_numpy()],
            "existing_customer_id": existing[id_col].to_numpy()[hits["old"].to_numpy()],
            "score": hits["score"].to_numpy(),
        }
    ).reset_index(drop=True)


def pair_quality(predicted: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against the true entities.

    Parameters
    ----------
    predicted : pandas.Series
        Cluster label per record.
    truth : pandas.Series
        True entity (person) per record, aligned with ``predicted``.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` and the pair counts ``true_pairs``,
        ``predicted_pairs``, ``correct_pairs``.

    Examples
    --------
    >>> pair_quality(pd.Series([1, 1, 2]), pd.Series([7, 7, 7]))["recall"]
    0.3333333333333333
    """
    if len(predicted) != len(truth):
        raise IdentityError("predicted and truth must have one label per record each")
    p = pd.Series(pd.factorize(predicted)[0])
    t = pd.Series(pd.factorize(truth)[0])

    def pairs(counts: np.ndarray) -> int:
        c = counts.astype(np.int64)
        return int((c * (c - 1) // 2).sum())

    pred = pairs(p.value_counts().to_numpy())
    true = pairs(t.value_counts().to_numpy())
    both = pairs(pd.DataFrame({"p": p, "t": t}).value_counts().to_numpy())
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": true,
        "predicted_pairs": pred,
        "correct_pairs": both,
    }
