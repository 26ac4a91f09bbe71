import json
import math

import numpy as np
import pytest

from binclf.io import atomic
from binclf.io.atomic import (
    InvalidFileNameError,
    append_line,
    json_bytes,
    publish_directory,
    staged_directory,
    to_json_safe,
    validate_file_names,
    validate_relative_name,
    write_bytes_atomic,
    write_directory_atomic,
    write_json_atomic,
)


def _fail(*args, **kwargs):
    raise OSError("simulated crash")


def test_write_bytes_atomic_replaces_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "pointer.json"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["pointer.json"]


def test_crash_before_replace_keeps_old_content_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "pointer.json"
    write_bytes_atomic(target, b"old")
    monkeypatch.setattr(atomic.os, "replace", _fail)
    with pytest.raises(OSError, match="simulated crash"):
        write_bytes_atomic(target, b"new content that must not appear")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["pointer.json"]


def test_write_directory_atomic_writes_nested_files(tmp_path):
    target = tmp_path / "versions" / "v0001"
    files = {"model.txt": b"tree", "plots/roc.png": b"\x89PNG"}
    write_directory_atomic(target, files)
    written = {
        p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()
    }
    assert written == files
    assert [p.name for p in target.parent.iterdir()] == ["v0001"]


def test_crash_before_rename_leaves_no_directory_visible(tmp_path, monkeypatch):
    parent = tmp_path / "versions"
    monkeypatch.setattr(atomic.os, "rename", _fail)
    with pytest.raises(OSError, match="simulated crash"):
        write_directory_atomic(parent / "v0001", {"a.txt": b"1", "b.txt": b"2"})
    assert list(parent.iterdir()) == []


def test_failure_while_writing_a_file_leaves_no_directory_visible(tmp_path):
    parent = tmp_path / "versions"
    with pytest.raises(TypeError, match=r"b\.txt"):
        write_directory_atomic(parent / "v0001", {"a.txt": b"1", "b.txt": "not bytes"})
    assert list(parent.iterdir()) == []


def test_publish_refuses_existing_target_and_keeps_it_intact(tmp_path):
    target = tmp_path / "v0001"
    write_directory_atomic(target, {"a.txt": b"first"})
    with (
        staged_directory(tmp_path, {"a.txt": b"second"}) as staged,
        pytest.raises(FileExistsError),
    ):
        publish_directory(staged, target)
    assert (target / "a.txt").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["v0001"]


def test_racing_publish_after_the_existence_check_is_refused_by_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "v0001"
    write_directory_atomic(target, {"a.txt": b"first"})
    with (
        staged_directory(tmp_path, {"a.txt": b"second"}) as staged,
        monkeypatch.context() as patch,
    ):
        patch.setattr(atomic.Path, "exists", lambda self: False)
        with pytest.raises(FileExistsError):
            publish_directory(staged, target)
    assert (target / "a.txt").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["v0001"]


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../escape", "a/../../b", "a//b", ".hidden", "a\\b", "", "a b", "./x"]
)
def test_file_names_that_could_escape_are_rejected(name):
    with pytest.raises(InvalidFileNameError, match="file name"):
        validate_relative_name(name)


def test_plain_nested_names_are_accepted():
    assert str(validate_relative_name("plots/roc_curve-1.png")) == "plots/roc_curve-1.png"


def test_a_name_used_as_file_and_folder_is_rejected():
    with pytest.raises(InvalidFileNameError, match="plots"):
        validate_file_names(["plots", "plots/roc.png"])


def test_to_json_safe_converts_numpy_and_non_finite_values():
    value = {
        "auc": np.float32(0.5),
        "n": np.int64(3),
        "ok": np.bool_(True),
        "nan": float("nan"),
        "arr": np.array([1.0, np.inf]),
        "pair": (1, 2),
        np.int64(7): "key",
    }
    safe = to_json_safe(value)
    assert safe == {
        "auc": 0.5,
        "n": 3,
        "ok": True,
        "nan": None,
        "arr": [1.0, None],
        "pair": [1, 2],
        "7": "key",
    }
    assert type(safe["n"]) is int and type(safe["auc"]) is float and type(safe["ok"]) is bool


def test_to_json_safe_names_the_unsupported_value():
    with pytest.raises(TypeError, match=r"metadata\.model\[1\]: object"):
        to_json_safe({"model": [1, object()]}, where="metadata")


def test_json_bytes_is_strict_json_and_keeps_key_order(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"b": math.nan, "a": 1})
    assert path.read_text() == json_bytes({"b": None, "a": 1}).decode()
    assert list(json.loads(path.read_text())) == ["b", "a"]


def test_append_line_appends_records_and_rejects_multiple_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    append_line(path, b'{"n":1}\n')
    append_line(path, b'{"n":2}\n')
    assert path.read_bytes() == b'{"n":1}\n{"n":2}\n'
    with pytest.raises(ValueError, match="one newline-terminated line"):
        append_line(path, b"a\nb\n")
