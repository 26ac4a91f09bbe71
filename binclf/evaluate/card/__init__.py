"""Model cards: what a model version was trained on, how it was tuned, calibrated and
thresholded, how it scored (with intervals) and why it was or was not promoted.

`models` holds the card as pydantic models (and its JSON Schema); `render` builds a card from its
sections and renders it as Markdown.
"""

from binclf.evaluate.card.models import CARD_FORMAT, CardError, ModelCard, card_json_schema
from binclf.evaluate.card.render import build_card, card_headline, render_card_markdown

__all__ = [
    "CARD_FORMAT",
    "CardError",
    "ModelCard",
    "build_card",
    "card_headline",
    "card_json_schema",
    "render_card_markdown",
]
