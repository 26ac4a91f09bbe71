import re
from pathlib import Path

import pytest
import yaml

from binclf.spec import (
    DATASET_ENV,
    FileSource,
    SpecError,
    SyntheticSource,
    load_spec,
    spec_from_dict,
)


def test_demo_spec_loads_as_a_synthetic_dataset_with_daily_partitions() -> None:
    spec = load_spec()

    assert isinstance(spec.source, SyntheticSource)
    assert spec.target == "is_fraud" and spec.positive == 1 and spec.negative == [0]
    assert not spec.is_snapshot
    assert spec.role_columns == ["is_fraud", "transaction_id", "event_time", "label_time"]


def test_spec_path_comes_from_the_environment_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_spec_dict
) -> None:
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(make_spec_dict()))
    monkeypatch.setenv(DATASET_ENV, str(path))

    spec = load_spec()

    assert spec.name == "tiny_events"
    assert spec.base_dir == tmp_path.resolve()


def test_relative_source_path_is_resolved_from_the_spec_folder(
    tmp_path: Path, make_spec_dict
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.parquet").write_bytes(b"")
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(make_spec_dict(source_path="data/events.parquet")))

    spec = load_spec(path)

    assert isinstance(spec.source, FileSource)
    assert spec.source.resolved_paths(spec.base_dir) == [
        (tmp_path / "data" / "events.parquet").resolve()
    ]


def test_snapshot_dataset_has_no_time_column_role(make_spec_dict) -> None:
    spec = spec_from_dict(make_spec_dict(time_column=None))

    assert spec.is_snapshot
    assert spec.role_columns == ["label", "event_id"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"costs": {"false_positive": -1.0}}, "costs.false_positive"),
        ({"costs": {"false_negative": 0}}, "costs.false_negative"),
        ({"colour": "red"}, "colour"),
        ({"validation": {"min_row": 3}}, "validation.min_row"),
        (
            {"validation": {"max_unseen_category_share": 1.5}},
            "validation.max_unseen_category_share",
        ),
        ({"partitions": {"start_date": "2026-13-01"}}, "partitions.start_date"),
        ({"source": {"kind": "excel", "path": "x"}}, "source.kind"),
        ({"source": {"kind": "csv"}}, "source.path"),
        ({"source": {"kind": "synthetic", "days": 0}}, "source.days"),
        ({"name": "../elsewhere"}, "name"),
        ({"negative": [["no"]]}, "negative.0"),
    ],
)
def test_spec_error_names_the_offending_key(overrides: dict, key: str, make_spec_dict) -> None:
    with pytest.raises(SpecError, match=f"invalid dataset spec: {re.escape(key)}: "):
        spec_from_dict(make_spec_dict(**overrides))


def test_spec_without_target_names_the_missing_key(make_spec_dict) -> None:
    data = make_spec_dict()
    del data["target"]

    with pytest.raises(SpecError, match=r"target: Field required"):
        spec_from_dict(data)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id_column": "label"}, "target and id_column both name column 'label'"),
        ({"negative": ["no", "yes"]}, "positive value 'yes' is also listed in negative"),
        ({"label_time_column": "labelled_at", "time_column": None}, "needs time_column"),
    ],
)
def test_inconsistent_roles_are_rejected(overrides: dict, message: str, make_spec_dict) -> None:
    with pytest.raises(SpecError, match=message):
        spec_from_dict(make_spec_dict(**overrides))


def test_spec_file_must_exist_be_yaml_and_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="dataset spec not found"):
        load_spec(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="is not valid YAML"):
        load_spec(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- name\n- target\n")
    with pytest.raises(SpecError, match="must be a mapping of keys"):
        load_spec(listing)


def test_file_source_without_matching_files_names_source_path(
    tmp_path: Path, make_spec_dict
) -> None:
    spec = spec_from_dict(make_spec_dict(source_path="nothing-*.parquet"), base_dir=tmp_path)

    with pytest.raises(SpecError, match=r"source\.path: no parquet file found"):
        spec.source.resolved_paths(spec.base_dir)
