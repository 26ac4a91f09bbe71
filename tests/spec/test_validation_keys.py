"""The validation keys of the spec: defaults that admit empty days, ordered ranges, rate tests."""

from pathlib import Path

import pytest

from binclf.ingest.sources import scan_source
from binclf.spec import SpecError, spec_from_dict
from binclf.validate.bounds import uses_binomial


def test_empty_days_are_allowed_unless_the_spec_demands_a_minimum(make_spec_dict) -> None:
    spec = spec_from_dict({**make_spec_dict(), "validation": {}})
    assert spec.validation.min_rows == 0
    with pytest.raises(SpecError, match=r"validation\.min_rows"):
        spec_from_dict(make_spec_dict(validation={"min_rows": -1}))


def test_a_reversed_numeric_range_is_an_error_that_shows_the_fix(make_spec_dict) -> None:
    with pytest.raises(SpecError, match=r"numeric_ranges\.amount: \[10\.0, 0\.0\] is reversed"):
        spec_from_dict(make_spec_dict(validation={"numeric_ranges": {"amount": [10, 0]}}))


def test_rates_are_judged_binomially_unless_a_share_is_set(make_spec_dict) -> None:
    def spec(**validation):
        return spec_from_dict({**make_spec_dict(), "validation": validation})

    assert uses_binomial(spec())
    assert not uses_binomial(spec(max_null_share=0.2))
    assert uses_binomial(spec(max_null_share=0.2, rate_test="binomial"))
    assert not uses_binomial(spec(rate_test="share"))
    with pytest.raises(SpecError, match=r"validation\.rate_test"):
        spec(rate_test="exact")


def test_a_duplicate_csv_header_is_an_error_naming_the_file(tmp_path: Path, make_spec_dict) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_id,event_time,label,amount,amount\n1,2026-03-01T10:00:00,no,1.0,2.0\n")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "csv", "path": "events.csv"}), base_dir=tmp_path
    )

    with pytest.raises(SpecError, match=r"events\.csv names column\(s\) 'amount' more than once"):
        scan_source(spec)


def test_a_rule_both_blocking_and_warning_only_is_a_spec_error(make_spec_dict) -> None:
    with pytest.raises(SpecError, match="warn_only and blocking both name"):
        spec_from_dict(
            make_spec_dict(validation={"warn_only": ["ids"], "blocking": ["ids", "null_share"]})
        )


def test_an_unknown_rule_name_is_a_spec_error(make_spec_dict) -> None:
    with pytest.raises(SpecError, match=r"validation\.warn_only"):
        spec_from_dict(make_spec_dict(validation={"warn_only": ["no_such_rule"]}))


def test_a_reversed_partition_range_is_a_spec_error_not_an_empty_range(make_spec_dict) -> None:
    reversed_range = {"start_date": "2026-03-05", "end_date": "2026-03-01"}
    with pytest.raises(SpecError, match=r"partitions: .*end_date 2026-03-01 is not after start"):
        spec_from_dict(make_spec_dict(partitions=reversed_range))


@pytest.mark.parametrize(
    ("kind", "name", "content", "reason"),
    [
        ("csv", "events.csv", b"", "empty CSV"),
        ("parquet", "events.parquet", b"PAR1 truncated", "parquet"),
    ],
)
def test_an_unreadable_source_file_is_a_spec_error_naming_it(
    tmp_path: Path, make_spec_dict, kind: str, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    spec = spec_from_dict(make_spec_dict(source={"kind": kind, "path": name}), base_dir=tmp_path)

    with pytest.raises(
        SpecError, match=rf"source.path: {tmp_path / name} cannot be read \({reason}"
    ):
        scan_source(spec)
