"""统一社会信用代码 (unified social credit code) validation per GB 32100-2015 (R-REG-1)."""

from __future__ import annotations

# The 31 characters allowed by the standard (no I, O, Z, S, V).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid USCC, or None when it is."""
    if len(code) != 18:
        return "must be exactly 18 characters"
    bad = sorted({c for c in code if c not in ALPHABET})
    if bad:
        return f"contains characters outside GB 32100-2015: {''.join(bad)}"
    if not code[2:8].isdigit():
        return "characters 3–8 must be the 6-digit administrative division code"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]}, expected {expected}"
    return None
