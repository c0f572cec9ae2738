"""YAML loading reports where things are; output looks like Talos's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError, Problem, Severity


def test_line_of_nested_fields_and_aliases() -> None:
    text = "a: &x [1, 2]\nnodes:\n  - name: n1\n    ip: 10.0.0.1\n  - name: n2\n    p: *x\n"
    doc = yamlfiles.parse_documents(text, "c.yaml")[0]
    assert doc.value["nodes"][1]["p"] == [1, 2]
    assert doc.lines.line(("nodes", 0, "ip")) == 4
    assert doc.lines.line(("nodes", 1, "name")) == 5
    assert doc.lines.line(("nodes", 1, "missing", "deeper")) == 5  # nearest located ancestor


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(DefinitionError) as caught:
        yamlfiles.parse_documents("a: 1\nb: [2,\nc: 3\n", "patches/x.yaml")
    (problem,) = caught.value.problems
    assert problem.file == "patches/x.yaml"
    assert problem.line is not None
    assert problem.line >= 2
    assert str(problem).startswith(f"patches/x.yaml:{problem.line}: not valid YAML")


def test_missing_directory_and_binary_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    for path, message in (
        (tmp_path / "nope.yaml", "file not found"),
        (tmp_path, "is a directory"),
        (tmp_path / "bin.yaml", "not UTF-8"),
    ):
        with pytest.raises(DefinitionError) as caught:
            yamlfiles.load_documents(path, "shown.yaml")
        assert caught.value.problems[0].file == "shown.yaml"
        assert message in caught.value.problems[0].message


def test_dump_is_four_space_insertion_ordered_multidoc() -> None:
    text = yamlfiles.dump_documents([{"z": {"b": [1]}, "a": 2}, {"kind": "X"}])
    assert text == "z:\n    b:\n        - 1\na: 2\n---\nkind: X\n"


def test_field_path_rendering() -> None:
    assert yamlfiles.field_path(("nodes", 2, "ip")) == "nodes[2].ip"
    assert yamlfiles.field_path(()) == ""


def test_problem_string_forms() -> None:
    assert str(Problem("f.yaml", "a.b", "bad", 3)) == "f.yaml:3: a.b: bad"
    warning = Problem("f.yaml", "", "odd", severity=Severity.WARNING)
    assert str(warning) == "f.yaml: warning: odd"


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_definition_error(text: str) -> None:
    try:
        documents = yamlfiles.parse_documents(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert all(p.file == "fuzz.yaml" for p in exc.problems)
    else:
        expected = list(yaml.load_all(text, Loader=yamlfiles.TalosLoader))
        assert [d.value for d in documents] == expected


def test_only_yaml_1_2_booleans() -> None:
    """Talos reads ``auto: off`` as the string "off" (its docs write it unquoted)."""
    doc = yamlfiles.parse_documents("auto: off\na: yes\nb: true\nc: False\n", "h.yaml")[0]
    assert doc.value == {"auto": "off", "a": "yes", "b": True, "c": False}


def test_duplicate_keys_are_refused_with_both_lines_but_merge_keys_are_not() -> None:
    with pytest.raises(DefinitionError) as caught:
        yamlfiles.parse_documents("a:\n  b: 1\n  c: 2\n  b: 3\n", "p.yaml")
    assert [str(p) for p in caught.value.problems] == [
        'p.yaml:4: a.b: mapping key "b" already defined at line 2'
    ]
    # `<<` merges are overridden by explicit keys on purpose; that is not a duplicate.
    doc = yamlfiles.parse_documents("x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  b: 3\n", "m.yaml")[0]
    assert doc.value["y"] == {"a": 1, "b": 3}


def test_kube_loader_reads_yaml_1_1_booleans_as_helm_does() -> None:
    value = yamlfiles.parse_one("a: on\nb: off\nc: yes\n", "values.yaml")
    assert value == {"a": True, "b": False, "c": True}


def test_shared_aliases_within_bounds_still_load() -> None:
    """The definition's own use of aliases (a shared patch list) stays cheap and allowed."""
    text = "f: &f [a, b]\n" + "".join(f"n{i}: [x, *f]\n" for i in range(500))
    doc = yamlfiles.parse_documents(text, "c.yaml")[0]
    assert doc.value["n499"] == ["x", ["a", "b"]]


def test_problem_lines_never_carry_raw_control_characters() -> None:
    problem = Problem("f\x1b[2J.yaml", "a\nb", "bad \u202e value\x07", 3)
    assert str(problem) == "f\\x1b[2J.yaml:3: a\\nb: bad \\u202e value\\x07"
