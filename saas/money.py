"""Prices for people: minor units and an ISO currency to a familiar display string."""

from __future__ import annotations

SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "INR": "₹", "CHF": "CHF ", "BRL": "R$"}
#: Currencies without minor units in daily use are still stored in minor units (x100).


def format_price(minor: int, currency: str) -> str:
    """``6000, 'EUR'`` → ``€60``; ``4550, 'GBP'`` → ``£45.50``; unknown codes keep the code."""
    major, cents = divmod(int(minor), 100)
    amount = f"{major:,}" + (f".{cents:02d}" if cents else "")
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
