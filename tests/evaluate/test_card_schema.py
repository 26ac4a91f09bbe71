"""The committed JSON Schema of model cards is the one the card models generate, and cards hold
to it."""

import json
from pathlib import Path

import jsonschema
import pytest
from test_card import _sections

from binclf.evaluate.card import build_card, card_json_schema

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "model_card.schema.json"


def committed_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def test_the_committed_schema_is_the_one_the_models_generate():
    assert committed_schema() == card_json_schema(), (
        "regenerate docs/schemas/model_card.schema.json from binclf.evaluate.card.card_json_schema"
    )


def test_a_built_card_validates_against_the_committed_schema():
    jsonschema.validate(build_card(**_sections()), committed_schema())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda card: card["test_metrics"].pop("pr_auc"), "pr_auc"),
        (lambda card: card["artifacts"].update({"model.txt": "abc"}), "does not match"),
        (lambda card: card.update(shap={}), "Additional properties"),
    ],
)
def test_the_schema_rejects_a_malformed_card(edit, message):
    card = build_card(**_sections())
    edit(card)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(card, committed_schema())
