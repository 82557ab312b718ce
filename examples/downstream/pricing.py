"""A downstream project's hot function: the price of a basket, with its set-up for counting."""

from __future__ import annotations

RATES = {"standard": 0.2, "reduced": 0.055, "zero": 0.0}


def basket_total(lines: list[tuple[str, float, int]]) -> float:
    """Return the basket's total with VAT: ``lines`` are (rate name, unit price, quantity)."""
    total = 0.0
    for rate, price, quantity in lines:
        total += price * quantity * (1 + RATES[rate])
    return round(total, 2)


def basket_args() -> tuple[list[tuple[str, float, int]]]:
    """Return basket_total's arguments for the counted benchmark: a 20-line basket."""
    return (
        [("standard", 9.99, 2), ("reduced", 3.5, 1), ("zero", 12.0, 3), ("standard", 1.0, 5)] * 5,
    )
