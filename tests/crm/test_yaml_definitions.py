"""crm.definitions: one YAML loader, every mistake in one pass, with its line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.definitions import DefinitionError, load_definition, parse_yaml


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    op: Literal["eq", "gt", "lt", "in"] = "eq"
    value: int | str | None = None


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    title: str | None = None
    rule: Condition
    limit: int = Field(default=0, ge=0)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if " " in value:
            raise ValueError("a segment name has no spaces; write it like 'win_back'")
        return value


class SegmentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segments: list[Segment]
    templates: dict[str, dict[str, Condition]] = {}


BAD = """\
segments:
  - name: Москва и область
    title: Москвичи
    rule:
      feild: city
      op: eq
  - title: no name here
    rule: {field: orders, op: gte, value: 2}
  - name: big
    rule: {field: revenue, op: gt}
    limit: -3
    colour: red
"""


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(DefinitionError) as info:
        load_definition(text, SegmentsFile)
    return [(p.line, p.field, p.message) for p in info.value.problems]


def test_every_mistake_is_reported_in_one_pass_with_line_and_field() -> None:
    problems = _problems(BAD)
    assert problems == [
        (2, "segments[0].name", "a segment name has no spaces; write it like 'win_back'"),
        (4, "segments[0].rule.field", "required field is missing"),
        (5, "segments[0].rule.feild", "unknown field 'feild'; did you mean 'field'?"),
        (7, "segments[1].name", "required field is missing"),
        (
            8,
            "segments[1].rule.op",
            "'gte' is not one of 'eq', 'gt', 'lt' or 'in'; did you mean 'gt'?",
        ),
        (11, "segments[2].limit", "input should be greater than or equal to 0; got -3"),
        (12, "segments[2].colour", "unknown field 'colour'"),
    ]


def test_the_message_lists_every_problem_as_file_line_field() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(BAD, SegmentsFile)
    text = str(info.value)
    assert text.startswith("<text>: 7 problems:")
    assert (
        "  <text>:5: segments[0].rule.feild: unknown field 'feild'; did you mean 'field'?" in text
    )


def test_a_misspelt_field_inside_a_dict_of_models_is_suggested_from_that_model() -> None:
    text = "segments: []\ntemplates:\n  email:\n    ru: {fiel: city}\n"
    assert (
        4,
        "templates.email.ru.fiel",
        "unknown field 'fiel'; did you mean 'field'?",
    ) in _problems(text)


def test_a_path_and_text_are_told_apart_one_way(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text("segments:\n  - name: vip\n    rule: {field: city}\n", encoding="utf-8")
    assert load_definition(path, SegmentsFile).segments[0].name == "vip"
    assert load_definition(str(path), SegmentsFile).segments[0].name == "vip"
    assert load_definition("segments: []", SegmentsFile).segments == []
    with pytest.raises(
        DefinitionError, match=r"missing\.yaml: <file>: no segments file at this path"
    ):
        load_definition(str(tmp_path / "missing.yaml"), SegmentsFile, what="segments")


def test_a_file_that_is_not_utf8_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.yaml"
    path.write_bytes("segments:\n  - name: москва\n".encode("cp1251"))
    with pytest.raises(DefinitionError, match="is not UTF-8 text"):
        load_definition(path, SegmentsFile)


def test_a_yaml_syntax_error_has_its_line() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition("segments:\n  - name: a\n    rule: {field: x\n", SegmentsFile)
    (problem,) = info.value.problems
    assert problem.field == "<yaml>" and problem.message.startswith("not valid YAML")
    assert problem.line == 4


def test_duplicate_keys_are_refused_not_silently_resolved() -> None:
    text = "segments:\n  - name: a\n    name: b\n    rule: {field: x}\n"
    with pytest.raises(DefinitionError) as info:
        load_definition(text, SegmentsFile)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (3, "segments[0].name")
    assert problem.message == "duplicate key 'name' (first at line 2); keep one"


def test_a_2000_level_nesting_is_a_clear_limit_not_a_recursion_error() -> None:
    text = "segments: " + "[" * 2000 + "]" * 2000 + "\n"
    with pytest.raises(DefinitionError, match="nested more than 64 levels deep"):
        load_definition(text, SegmentsFile)


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(DefinitionError, match="<root>: the file must be a mapping of keys"):
        load_definition("- just\n- a list\n", SegmentsFile)


def test_line_of_finds_nested_keys_and_items() -> None:
    doc = parse_yaml(BAD)
    assert doc.line_of(("segments", 2, "limit")) == 11
    assert doc.line_of(("segments", 1)) == 7
    assert doc.line_of(("segments", 1, "missing")) == 7  # reported at the parent
    assert doc.data["segments"][0]["title"] == "Москвичи"
