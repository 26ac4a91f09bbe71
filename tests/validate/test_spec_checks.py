"""The spec is checked against the reference rows before any partition is judged."""

import polars as pl
import pytest

from binclf.spec import SpecError, spec_from_dict
from binclf.validate.spec_checks import check_spec_against


@pytest.fixture(scope="module")
def reference(make_events) -> pl.DataFrame:
    return make_events(days=2)


def _check(reference: pl.DataFrame, spec_dict) -> None:
    check_spec_against(reference, spec_from_dict(spec_dict), where="the reference days")


def test_the_tiny_spec_fits_its_data(reference, make_spec_dict) -> None:
    _check(reference, make_spec_dict(sensitive=["region"], slices=["channel"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sensitive": ["regoin"]}, "sensitive: column 'regoin' is not in the data"),
        ({"slices": ["chanel"]}, "slices: column 'chanel' is not in the data"),
        ({"id_column": "eventid"}, "id_column: column 'eventid' is not in the data"),
        ({"target": "labels"}, "target: column 'labels' is not in the data"),
        ({"features": {"include": ["amnt"]}}, "features.include: column 'amnt' is not in"),
        ({"positive": True, "negative": [False]}, "holds a YAML boolean (unquoted yes/no"),
    ],
)
def test_a_spec_that_does_not_fit_the_data_names_the_key(
    reference, make_spec_dict, overrides, message
) -> None:
    with pytest.raises(SpecError) as error:
        _check(reference, make_spec_dict(**overrides))
    assert message in str(error.value)


def test_labels_that_differ_from_positive_by_case_or_space_need_negatives(
    reference, make_spec_dict
) -> None:
    flipped = reference.with_columns(
        label=pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(" Yes")).otherwise("label")
    )

    with pytest.raises(SpecError, match=r"\[' Yes'\], which differ from positive 'yes' only"):
        _check(flipped, make_spec_dict(negative=None))
    _check(flipped, make_spec_dict(negative=["no", " Yes"]))  # listed: the user decided


def test_a_text_positive_on_a_numeric_target_says_to_write_a_number(
    reference, make_spec_dict
) -> None:
    numeric = reference.with_columns((pl.col("label") == "yes").cast(pl.Int64))

    with pytest.raises(SpecError, match="write the numbers unquoted"):
        _check(numeric, make_spec_dict(positive="1", negative=["0"]))
