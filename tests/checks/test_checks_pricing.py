"""Prices per model: defaults, config overrides, unknown models."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptdeck.config import load_price_table
from promptdeck.errors import ValidationError
from promptdeck.pricing import ModelPrice, PriceTable


def test_cost_is_per_million_tokens() -> None:
    table = PriceTable.default()
    assert table.cost("claude-sonnet-4-20250514", 1_000_000, 0) == pytest.approx(3.0)
    assert table.cost("claude-sonnet-4-20250514", 2000, 500) == pytest.approx(0.0135)
    assert table.cost("anthropic:claude-sonnet-4-20250514", 2000, 500) == pytest.approx(0.0135)


def test_an_unknown_model_has_no_cost_rather_than_a_guess() -> None:
    table = PriceTable.default()
    assert table.cost("llama3.1:8b", 100, 100) is None
    assert table.cost("claude-sonnet-4-20250514-preview", 100, 100) is None


def test_the_config_file_overrides_and_adds_prices(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[prices."claude-sonnet-4-20250514"]\ninput = 2.5\noutput = 12\n\n'
        '[prices."llama3.1:8b"]\ninput = 0\noutput = 0\n',
        encoding="utf-8",
    )
    table = load_price_table(path)
    assert table.price("claude-sonnet-4-20250514") == ModelPrice(2.5, 12.0)
    assert table.cost("llama3.1:8b", 1000, 1000) == 0.0
    assert table.price("gpt-4o") == PriceTable.default().price("gpt-4o")


def test_the_config_file_named_by_the_environment_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[prices."my-model"]\ninput = 1\noutput = 2\n', encoding="utf-8")
    monkeypatch.setenv("PROMPTDECK_CONFIG", str(path))
    assert load_price_table().cost("my-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert load_price_table(tmp_path / "missing.toml") == PriceTable.default()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('prices = "cheap"\n', "'prices' must be a table of models"),
        ('[prices."m"]\ninput = "3"\noutput = 1\n', """[prices."m"]: 'input' must be a number"""),
        ('[prices."m"]\ninput = 1\n', """[prices."m"]: 'output' must be a number"""),
        ('[prices."m"]\ninput = -1\noutput = 1\n', "'input' must be zero or more"),
        ('[prices."m"]\ninput = 1\noutput = 1\ncurrency = "EUR"\n', "unknown key 'currency'"),
    ],
)
def test_a_bad_price_table_is_one_clear_line(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_price_table(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
