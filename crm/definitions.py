"""One loader for every marketer-authored YAML file: segments, scoring rules, loyalty rules,
campaigns and triggers.

A definition file is YAML validated by a pydantic model. :func:`load_definition` reads it and
reports **every** mistake in one pass, each with its line, its field and a plain sentence, the
closest name suggested for a misspelt field or choice:

.. code-block:: text

    segments.yaml:7: segments[1].rule.feild: unknown field 'feild'; did you mean 'field'?
    segments.yaml:12: segments[2].name: required field is missing

The same mistake is worded the same way in every kind of file. How a source is told apart:
a :class:`~pathlib.Path` is always a file; a ``str`` naming an existing file is that file; any
other ``str`` that contains a newline or a ``:`` is YAML text; anything else is refused as a
missing file (never a bare ``FileNotFoundError``). Nesting deeper than ``max_depth`` levels is
refused with its line before anything is built (instead of Python's ``RecursionError``), and so
are duplicate keys, which YAML would otherwise silently resolve to the last one.

Rooms that check more than the model can (a field name against the profile columns, a segment
name against the stored segments) use :func:`parse_yaml` and :meth:`YamlDocument.line_of` to
give their own problems a line, and raise :class:`DefinitionError` with all of them.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from crm.errors import CRMError

__all__ = [
    "DefinitionError",
    "Problem",
    "YamlDocument",
    "closest",
    "load_definition",
    "parse_yaml",
    "problems_from_validation",
    "read_source",
    "validate_document",
]

M = TypeVar("M", bound=BaseModel)
MAX_DEPTH = 64
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One mistake in a definition file.

    Attributes
    ----------
    source : str
        The file name, or ``"<text>"`` for YAML given as text.
    line : int or None
        1-based line of the field at fault, when known.
    field : str
        Where in the file: ``segments[1].rule.field``; ``"<yaml>"`` for a syntax error,
        ``"<root>"`` for the document as a whole.
    message : str
        What is wrong and how to fix it.
    """

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.message}"


class DefinitionError(CRMError, ValueError):
    """A definition file has mistakes; ``problems`` lists every one, in file order.

    Attributes
    ----------
    problems : tuple of Problem
        Every mistake found, sorted by line.
    source : str
        The file name (or ``"<text>"``).
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.field))
        )
        if not self.problems:
            raise ValueError("a DefinitionError needs at least one problem")
        self.source = source or self.problems[0].source
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            listed = "\n".join(f"  {p}" for p in self.problems)
            text = f"{self.source}: {len(self.problems)} problems:\n{listed}"
        super().__init__(text)


# ---------------------------------------------------------------- sources
def read_source(source: str | Path, what: str = "definitions") -> tuple[str, str]:
    """The YAML text of ``source`` and the name to report it by.

    Parameters
    ----------
    source
        A path, or YAML text (see the module docstring for how the two are told apart).
    what
        What the file holds, for the message when it cannot be read ("segments file").

    Raises
    ------
    DefinitionError
        When the file does not exist, cannot be read, or is not UTF-8 text.
    """
    if isinstance(source, str) and ("\n" in source or ":" in source):
        try:
            if not Path(source).is_file():
                return source, "<text>"
        except (OSError, ValueError):  # too long or odd to be a path name: it is text
            return source, "<text>"
    path = Path(source)
    name = str(path)
    try:
        return path.read_text(encoding="utf-8"), name
    except FileNotFoundError:
        message = f"no {what} file at this path"
    except IsADirectoryError:
        message = f"is a folder, not a {what} file"
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text (byte {exc.start}); save the file as UTF-8"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    raise DefinitionError([Problem(name, None, "<file>", message)])


# ---------------------------------------------------------------- YAML with lines
@dataclass
class YamlDocument:
    """A parsed YAML document that remembers the line of every key and item.

    Attributes
    ----------
    data : object
        The plain Python value (``None`` for an empty document).
    source : str
        The name to report problems by.
    """

    data: Any
    source: str
    _node: yaml.Node | None = field(default=None, repr=False)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest part of ``loc`` that the document has.

        ``loc`` is a path of keys and list positions (pydantic's error locations); parts the
        document does not have (a union member's tag, a missing key) are skipped, so a missing
        field is reported at its parent's line.
        """
        node = self._node
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == str(part):
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                node = node.value[part]
                line = node.start_mark.line + 1
        return line


def _depth_problem(text: str, source: str, max_depth: int) -> Problem | None:
    """Refuse nesting deeper than ``max_depth`` from the event stream (the composer recurses)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    mark = event.start_mark
                    return Problem(
                        source,
                        mark.line + 1 if mark else None,
                        "<yaml>",
                        f"nested more than {max_depth} levels deep; flatten the definition",
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None  # the composer reports the syntax error with its line
    return None


def _duplicate_keys(node: yaml.Node, source: str, path: Loc = ()) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(
                        source,
                        line,
                        _render_loc((*path, key)),
                        f"duplicate key {key!r} (first at line {seen[key]}); keep one",
                    )
                )
            else:
                seen[key] = line
            problems += _duplicate_keys(value_node, source, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, source, (*path, i))
    return problems


def parse_yaml(
    source: str | Path, what: str = "definitions", max_depth: int = MAX_DEPTH
) -> YamlDocument:
    """Read and parse ``source`` into a :class:`YamlDocument` (no model validation yet).

    Raises
    ------
    DefinitionError
        For an unreadable file, a YAML syntax error, too deep a nesting or duplicate keys,
        each with its line.
    """
    text, name = read_source(source, what)
    deep = _depth_problem(text, name, max_depth)
    if deep is not None:
        raise DefinitionError([deep])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise DefinitionError(
            [
                Problem(
                    name,
                    mark.line + 1 if mark else None,
                    "<yaml>",
                    f"not valid YAML: {exc.problem or exc.context}",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(name, None, "<yaml>", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is not None:
        duplicates = _duplicate_keys(node, name)
        if duplicates:
            raise DefinitionError(duplicates)
    return YamlDocument(data, name, node)


# ---------------------------------------------------------------- validation
def closest(name: object, choices: Iterable[object]) -> str | None:
    """The choice closest to ``name`` (case-insensitive), or ``None`` when none is close."""
    options = {str(c).lower(): str(c) for c in choices}
    match = difflib.get_close_matches(str(name).lower(), list(options), n=1, cutoff=0.6)
    return options[match[0]] if match else None


def _render_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin in (list, tuple, set, frozenset, Sequence):
        return [m for a in args for m in _models_in(a)]
    if origin in (dict, Mapping):
        return _models_in(args[-1]) if args else []
    return []


def _field_names(model: type[BaseModel], loc: Loc) -> set[str]:
    """Field names (and aliases) allowed at ``loc`` below ``model``.

    List positions and dict keys keep the models they are in; a field name moves to the
    models its annotation holds.
    """
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt = [
            m
            for cand in candidates
            if (info := cand.model_fields.get(part)) is not None
            for m in _models_in(info.annotation)
        ]
        if nxt:
            candidates = nxt
    return {info.alias or name for cand in candidates for name, info in cand.model_fields.items()}


def _data_at(data: Any, loc: Loc) -> tuple[Loc, Any]:
    """The part of ``loc`` that names the file's keys (union tags dropped), and the value there."""
    kept: list[str | int] = []
    for part in loc:
        if isinstance(data, list) and isinstance(part, int):
            data = data[part] if 0 <= part < len(data) else None
            kept.append(part)
        elif isinstance(data, Mapping) and part in data:
            data = data[part]
            kept.append(part)
        elif not _looks_like_tag(part):  # a missing or unknown key: the field at fault
            data = None
            kept.append(part)
    return tuple(kept), data


def _looks_like_tag(part: str | int) -> bool:
    # pydantic names union members by their class or a function wrapper: "Comparison",
    # "function-after[...]", "list[...]", "literal['a']"
    text = str(part)
    return isinstance(part, str) and (text[:1].isupper() or "[" in text or "-" in text)


def _message(err: Mapping[str, Any], model: type[BaseModel], loc: Loc, doc: YamlDocument) -> str:
    kind = err["type"]
    given = err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        name = loc[-1] if loc else ""
        hint = closest(name, _field_names(model, loc[:-1]))
        message = f"unknown field {str(name)!r}"
        return message + (f"; did you mean {hint!r}?" if hint else "")
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'\"") for c in expected.replace(" or ", ",").split(",")]
        hint = closest(given, [c for c in choices if c])
        message = f"{given!r} is not one of {expected}"
        return message + (f"; did you mean {hint!r}?" if hint else "")
    text = str(err["msg"])
    text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text[:1].lower() + text[1:]
    if kind.endswith(("_type", "_parsing")) or kind.startswith(("greater", "less", "string_")):
        text += f"; got {given!r}"
    return text


def problems_from_validation(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel]
) -> list[Problem]:
    """Every error of a pydantic validation as a :class:`Problem` with its YAML line."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc, _ = _data_at(doc.data, tuple(err["loc"]))
        message = _message(err, model, loc, doc)
        where = _render_loc(loc)
        if (where, message) in seen:  # a union repeats one mistake once per member
            continue
        seen.add((where, message))
        problems.append(Problem(doc.source, doc.line_of(loc), where, message))
    return problems


def validate_document(
    doc: YamlDocument, model: type[M], *, context: Mapping[str, Any] | None = None
) -> M:
    """Validate a parsed document against ``model``; every mistake in one :class:`DefinitionError`."""
    data = {} if doc.data is None else doc.data
    if not isinstance(data, Mapping):
        raise DefinitionError(
            [Problem(doc.source, doc.line_of(()), "<root>", "the file must be a mapping of keys")]
        )
    try:
        return model.model_validate(data, context=dict(context) if context else None)
    except ValidationError as exc:
        raise DefinitionError(problems_from_validation(exc, doc, model)) from None


def load_definition(
    source: str | Path,
    model: type[M],
    *,
    what: str = "definitions",
    context: Mapping[str, Any] | None = None,
    max_depth: int = MAX_DEPTH,
) -> M:
    """Read, parse and validate one definition file.

    Parameters
    ----------
    source
        A path or YAML text (see the module docstring).
    model
        The pydantic model of the whole file; give it ``extra="forbid"`` so misspelt fields
        are reported.
    what
        What the file holds ("segments", "loyalty rules"), for messages about the file itself.
    context
        Passed to pydantic validators (``info.context``).
    max_depth
        Deepest nesting accepted.

    Returns
    -------
    The validated model.

    Raises
    ------
    DefinitionError
        With every problem of the file, each with its line and field.

    Examples
    --------
    >>> from pydantic import BaseModel, ConfigDict
    >>> class Rules(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     half_life_days: int
    >>> load_definition("half_life_days: 7", Rules).half_life_days
    7
    """
    return validate_document(parse_yaml(source, what, max_depth), model, context=context)
