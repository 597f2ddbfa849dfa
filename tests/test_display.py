"""Showing user text: visible, never obeyed; editing it round-trips exactly."""

from __future__ import annotations

from promptdeck.display import editable, restore, visible


def test_escape_sequences_become_pictures() -> None:
    assert visible("a\x1b[31mred\x07\n\tb") == "a\u241b[31mred\u2407\n\tb"


def test_editing_round_trips_control_characters() -> None:
    text = "x \x1b[2J y\r\nz\x7f\x00"
    shown, pictured = editable(text)
    assert pictured
    assert "\x1b" not in shown and "\x00" not in shown
    assert restore(shown) == text


def test_text_that_already_holds_pictures_is_not_touched() -> None:
    text = "a literal \u241b and a real \x1b"
    assert editable(text) == (text, False)
    assert editable("plain") == ("plain", False)
