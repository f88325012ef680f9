"""Reading a segments file: YAML with a line number on every condition.

:func:`load_segments` walks the composed YAML nodes so that each :class:`~segments.language.
Condition` knows its line, collects every problem of the file (structure and, given a schema,
fields) and raises them together as one :class:`~segments.errors.SegmentDefinitionError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml

from segments.language import (
    _GROUPS,
    _SEGMENT_KEYS,
    OPERATORS,
    Condition,
    Group,
    Schema,
    SegmentDefinition,
    _shape_problem,
    _suggest,
)
from segments.validation import _check_conditions, _check_fields, _Problems, _specs

__all__ = ["EXAMPLE_SEGMENTS", "load_segments"]

#: The example segments file shipped with the package.
EXAMPLE_SEGMENTS = Path(__file__).with_name("segments.example.yaml")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Parser:
    """Walks the composed YAML nodes, so that every condition knows its line."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self._constructor = yaml.SafeLoader("")
        # every condition that parsed, with its segment, even inside a segment that did not:
        # the schema checks run on them too, so one pass reports all of a file's problems
        self.parsed: list[tuple[str | None, Condition]] = []
        self._name_line = 1

    def keep(self, cond: Condition) -> Condition:
        self.parsed.append((self.problems.segment, cond))
        return cond

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def items(self, node: yaml.MappingNode, where: str) -> list[tuple[str, yaml.Node, int]]:
        out: list[tuple[str, yaml.Node, int]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            line = _line(key_node)
            if not isinstance(key, str):
                self.problems.add(where, f"key {key!r} is not a name; write a field name", line)
                continue
            if key in seen:
                self.problems.add(
                    key, f"duplicate key (first at line {seen[key]}); keep one of them", line
                )
                continue
            seen[key] = line
            out.append((key, value_node, line))
        return out

    def segments(self, root: yaml.Node | None) -> list[SegmentDefinition]:
        if root is None:
            self.problems.add("segments", "the file is empty; add a 'segments:' list", 1)
            return []
        entries: yaml.Node | None = root
        if isinstance(root, yaml.MappingNode):
            entries = None
            for key, value_node, line in self.items(root, "segments"):
                if key == "segments":
                    entries = value_node
                else:
                    self.problems.add(
                        key,
                        f"unknown top-level key; {_suggest(key, ['segments'])}"
                        "the file holds one 'segments:' list",
                        line,
                    )
            if entries is None:
                self.problems.add("segments", "no 'segments:' list; add one", _line(root))
                return []
        if not isinstance(entries, yaml.SequenceNode) or not entries.value:
            self.problems.add(
                "segments",
                "'segments' must be a non-empty list of segments; start each with '- name:'",
                _line(entries) if entries is not None else 1,
            )
            return []
        out = []
        names: dict[str, int] = {}
        for item in entries.value:
            definition = self.segment(item)
            name, line = self.problems.segment, self._name_line
            if name is not None and name in names:
                self.problems.add(
                    "name",
                    f"duplicate segment name {name!r} (first at line {names[name]}); "
                    "give each segment its own name",
                    line,
                )
                continue
            if name is not None:
                names[name] = line
            if definition is not None:
                out.append(definition)
        return out

    def segment(self, node: yaml.Node) -> SegmentDefinition | None:
        self.problems.segment = None
        self._name_line = _line(node)
        if not isinstance(node, yaml.MappingNode):
            self.problems.add(
                "segments", "each segment is a mapping with name and where", _line(node)
            )
            return None
        keys = {k: (v, line) for k, v, line in self.items(node, "segment")}
        name_line = self._name_line = keys.get("name", (None, _line(node)))[1]
        name = self.value(keys["name"][0]) if "name" in keys else None
        if isinstance(name, str) and name.strip() and not re.search(r"\s", name.strip()):
            name = name.strip()
            self.problems.segment = name
        else:
            self.problems.add(
                "name",
                f"segment name {name!r} is missing or not a single word; "
                "write e.g. 'name: vip_moscow'",
                name_line,
            )
            name = None
        for key, (_, line) in keys.items():
            if key not in _SEGMENT_KEYS:
                self.problems.add(
                    key,
                    f"unknown segment key; {_suggest(key, _SEGMENT_KEYS)}"
                    f"a segment has {', '.join(_SEGMENT_KEYS)}",
                    line,
                )
        text = {}
        for key in ("title", "description"):
            raw = self.value(keys[key][0]) if key in keys else ""
            text[key] = "" if raw is None else str(raw)
        if "where" not in keys:
            self.problems.add("where", "no 'where:' conditions; add them", name_line)
            return None
        where = self.condition(keys["where"][0], keys["where"][1])
        if name is None or where is None:
            return None
        return SegmentDefinition(
            name, where, text["title"], text["description"], name_line, self.problems.source
        )

    def condition(self, node: yaml.Node, line: int) -> Condition | Group | None:
        if isinstance(node, yaml.SequenceNode):
            return self.group("all", node, line)
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.problems.add(
                "where",
                "a condition must be a mapping like 'city: Москва' or 'all: [...]'",
                _line(node),
            )
            return None
        parts: list[Condition | Group] = []
        ok = True
        for key, value_node, key_line in self.items(node, "where"):
            part: Condition | Group | None
            if key == "all":
                part = self.group("all", value_node, key_line)
            elif key == "any":
                part = self.group("any", value_node, key_line)
            elif key == "not":
                if isinstance(value_node, yaml.MappingNode):
                    inner = self.condition(value_node, key_line)
                    part = None if inner is None else Group("not", (inner,), key_line)
                else:
                    self.problems.add(
                        "not",
                        "'not' takes one condition (a mapping); for several, write "
                        "'not: {any: [...]}'",
                        key_line,
                    )
                    part = None
            else:
                part = self.field(key, value_node, key_line)
            ok = ok and part is not None
            if part is not None:
                parts.append(part)
        if not ok:
            return None
        return parts[0] if len(parts) == 1 else Group("all", tuple(parts), _line(node))

    def group(self, op: Literal["all", "any"], node: yaml.Node, line: int) -> Group | None:
        if isinstance(node, yaml.MappingNode) and node.value:
            children: list[Condition | Group | None] = []
            for key_node, value_node in node.value:
                single = yaml.MappingNode("tag:yaml.org,2002:map", [(key_node, value_node)])
                single.start_mark = key_node.start_mark
                children.append(self.condition(single, _line(key_node)))
        elif isinstance(node, yaml.SequenceNode) and node.value:
            children = [self.condition(item, _line(item)) for item in node.value]
        else:
            self.problems.add(
                op,
                f"empty '{op}'; list at least one condition under it or remove it",
                line,
            )
            return None
        if any(c is None for c in children):
            return None
        return Group(op, tuple(c for c in children if c is not None), line)

    def field(self, name: str, node: yaml.Node, line: int) -> Condition | Group | None:
        if isinstance(node, yaml.SequenceNode):
            return self.comparison(name, "in", node, line)
        if not isinstance(node, yaml.MappingNode):
            value = self.value(node)
            if value is None:
                return self.keep(Condition(name, "is_null", True, line))
            return self.comparison(name, "eq", node, line)
        if not node.value:
            self.problems.add(name, "no operator; write e.g. '{gte: 10}' or a value", line)
            return None
        parts = []
        for op, value_node, op_line in self.items(node, name):
            if op not in OPERATORS:
                hint = (
                    f"'{op}' goes above the field, not inside it"
                    if op in _GROUPS
                    else f"{_suggest(op, OPERATORS)}operators are {', '.join(OPERATORS)}"
                )
                self.problems.add(name, f"unknown operator {op!r}; {hint}", op_line)
                continue
            parts.append(self.comparison(name, op, value_node, op_line))
        if len(parts) < len(node.value) or any(p is None for p in parts):
            return None
        conditions = tuple(p for p in parts if p is not None)
        return conditions[0] if len(conditions) == 1 else Group("all", conditions, line)

    def comparison(self, name: str, op: str, node: yaml.Node, line: int) -> Condition | None:
        value = self.value(node)
        problem = _shape_problem(op, value)
        if problem:
            self.problems.add(name, f"{op}: {problem}", line)
            return None
        if op in ("has_any", "has_all", "has_none") and isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = tuple(value)
        return self.keep(Condition(name, op, value, line))


def _read_source(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path):
        return source.read_text(encoding="utf-8"), str(source)
    if "\n" not in source and (source.endswith((".yaml", ".yml")) or Path(source).is_file()):
        return Path(source).read_text(encoding="utf-8"), source
    return source, "<segments>"


def load_segments(
    source: str | Path,
    schema: Schema | None = None,
    *,
    source_name: str | None = None,
    fields: Iterable[str] | None = None,
) -> list[SegmentDefinition]:
    """Parse segment definitions from a YAML file or text, with line numbers.

    Parameters
    ----------
    source : str or Path
        A path (a ``Path``, or a one-line string ending in ``.yaml``/``.yml`` or naming a file)
        or the YAML text itself.
    schema : mapping, optional
        Field name → kind (see :func:`validate`); when given the definitions are validated
        against it too, and its problems are reported together with the parsing ones.
    source_name : str, optional
        Name used in messages (default: the path, or ``"<segments>"``).
    fields : iterable of str, optional
        The profile's field names, when their kinds are not known yet (before a run builds
        the profiles): every condition on another name is reported, in the same pass.

    Returns
    -------
    list of SegmentDefinition
        In file order.

    Raises
    ------
    SegmentDefinitionError
        Listing every problem found (``.problems``); ``.line``/``.field`` are the first one's.
    """
    text, name = _read_source(source)
    name = source_name or name
    problems = _Problems(name)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problems.add(
            "<yaml>",
            f"not valid YAML ({exc.problem}); check indentation and quotes",
            mark.line + 1 if mark is not None else None,
        )
        problems.raise_if_any()
    parser = _Parser(problems)
    definitions = parser.segments(root)
    if schema is not None:
        _check_conditions(parser.parsed, _specs(schema), problems)
    elif fields is not None:
        _check_fields(parser.parsed, fields, problems)
    problems.found.sort(key=lambda p: p.line or 0)
    problems.raise_if_any()
    return definitions
