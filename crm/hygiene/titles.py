"""Job titles mapped to a canonical vocabulary with seniority (D5, S6).

``CEO``, ``Генеральный директор``, ``ген. директор`` and ``Founder & CEO`` all become the
``ceo`` title (seniority ``c_level``). A title is folded (lower case, ``ё`` → ``е``,
abbreviations such as ``ген.``, ``гл.``, ``зам.``, ``нач.`` expanded, ``&`` → ``and``) and
matched against the ordered patterns of ``data/job_title_patterns.tsv``; the first match
wins. What matches nothing is reported (``job_title_unmapped``), never guessed.

Seniority levels, highest first: ``owner``, ``c_level``, ``director``, ``head``, ``manager``,
``specialist``, ``assistant``.
"""

from __future__ import annotations

import re
from functools import cache

import pandas as pd

from crm.hygiene._common import fold, map_distinct, read_table, to_text

__all__ = [
    "SENIORITY_LEVELS",
    "job_title_vocabulary",
    "map_job_titles",
    "title_key",
    "unmapped_report",
]

#: Seniority levels, highest first.
SENIORITY_LEVELS = ("owner", "c_level", "director", "head", "manager", "specialist", "assistant")

_ABBREVIATIONS = {
    "ген": "генеральный",
    "генер": "генеральный",
    "гл": "главный",
    "зам": "заместитель",
    "нач": "начальник",
    "рук": "руководитель",
    "дир": "директор",
    "отд": "отдела",
    "спец": "специалист",
    "бух": "бухгалтер",
    "ком": "коммерческий",
    "фин": "финансовый",
    "тех": "технический",
    "менедж": "менеджер",
    "sr": "senior",
    "jr": "junior",
    "mgr": "manager",
    "dir": "director",
    "asst": "assistant",
    "exec": "executive",
}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@cache
def job_title_vocabulary() -> pd.DataFrame:
    """The canonical titles: ``code``, ``label_en``, ``label_ru``, ``function``, ``seniority``."""
    rows = read_table("job_titles.tsv", 5)
    return pd.DataFrame(rows, columns=["code", "label_en", "label_ru", "function", "seniority"])


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p), code) for p, code in read_table("job_title_patterns.tsv", 2))


def _key(text: str) -> str:
    text = fold(pd.Series([text])).iloc[0].replace("&", " and ").replace("+", " and ")
    words = [_ABBREVIATIONS.get(w, w) for w in _WORD.findall(text)]
    return " ".join(words)


def title_key(values: pd.Series) -> pd.Series:
    """The folded form titles are matched on (``Ген. директор`` → ``генеральный директор``)."""
    text = to_text(values)
    return map_distinct(text, lambda v: (_key(v),), ("key",))["key"].astype("str")


def _match(text: str) -> tuple[str | None]:
    key = _key(text)
    for pattern, code in _patterns():
        if pattern.search(key):
            return (code,)
    return (None,)


def map_job_titles(values: pd.Series, language: str | pd.Series = "ru") -> pd.DataFrame:
    """Map free-text job titles to the canonical vocabulary.

    Parameters
    ----------
    values : pandas.Series
        Titles as entered.
    language : str or pandas.Series
        ``ru`` or ``en`` (per row, e.g. the customer's ``language``): which label to give.

    Returns
    -------
    pandas.DataFrame
        Same index, columns ``title_code``, ``job_title`` (the canonical label, or the
        cleaned original when unmapped), ``function``, ``seniority`` and ``title_unmapped``
        (a title was given but matched nothing).

    >>> map_job_titles(pd.Series(["CEO", "Генеральный директор", "Founder & CEO"]))["title_code"].tolist()
    ['ceo', 'ceo', 'ceo']
    """
    text = to_text(values)
    code = map_distinct(text, _match, ("code",))["code"].astype("str")
    vocab = job_title_vocabulary().set_index("code")
    lang = language if isinstance(language, pd.Series) else pd.Series(language, index=values.index)
    lang = lang.astype("str").str.lower().fillna("ru")
    label = code.map(vocab["label_ru"]).where(lang != "en", code.map(vocab["label_en"]))
    return pd.DataFrame(
        {
            "title_code": code,
            "job_title": label.astype("str").fillna(text),
            "function": code.map(vocab["function"]).astype("str"),
            "seniority": code.map(vocab["seniority"]).astype("str"),
            "title_unmapped": text.notna() & code.isna(),
        },
        index=values.index,
    )


def unmapped_report(values: pd.Series) -> pd.DataFrame:
    """The titles that map to nothing, with how many rows hold each (most frequent first)."""
    text = to_text(values)
    mapped = map_job_titles(text)
    left = text[mapped["title_unmapped"]]
    counts = left.value_counts()
    return pd.DataFrame({"job_title": counts.index.astype("str"), "rows": counts.to_numpy()})
