"""Money: int64 minor units inside, Decimal at the edge, never a float.

A balance group declares a scale (decimal places, 2 for yuan/fen). An amount converts to
minor units exactly or not at all: more significant places than the scale is an error, never
rounding (1.000 is fine at scale 2, 1.005 is not). Results outside int64 are errors too.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from ledger.errors import AmountError

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_EXACT = Context(prec=40)


def to_decimal(value: object) -> Decimal:
    """Parse a Decimal, str or int as a finite Decimal; floats and bools are refused."""
    if isinstance(value, (bool, float)):
        raise AmountError(f"amount {value!r}: floats are not money; pass a Decimal or a string")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError(f"amount {value!r} is not a decimal number") from None
    else:
        raise AmountError(f"amount {value!r}: expected Decimal, str or int, got {type(value).__name__}")
    if not number.is_finite():
        raise AmountError(f"amount {value!r} is not a finite number")
    return number


def to_minor(value: object, scale: int) -> int:
    """Exact minor units of `value` at `scale` decimal places (AmountError if inexact).

    Works on the digit tuple, not through a decimal context, so no precision setting can
    round a long input into an acceptable one.
    """
    number = to_decimal(value)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    if -scale <= exponent and len(digits) + exponent + scale <= 18:
        # whole minor units of at most 18 digits: moving the point in a context of 40 digits
        # is exact (whatever the caller's context), and the result fits int64
        return int(number.scaleb(scale, _EXACT))
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    if coefficient == 0:
        return 0
    if shift < 0:
        digits_text = "".join(map(str, digits))
        if len(digits_text) - len(digits_text.rstrip("0")) < -shift:
            raise AmountError(f"amount {value!r} has more than {scale} decimal places")
        coefficient //= 10**-shift
    elif shift > 0:
        if len(digits) + shift > 20:
            raise AmountError(f"amount {value!r} is outside the int64 range of minor units")
        coefficient *= 10**shift
    minor = -coefficient if sign else coefficient
    if not INT64_MIN < minor <= INT64_MAX:
        raise AmountError(f"amount {value!r} is outside the int64 range of minor units")
    return minor


def to_decimal_amount(minor: int, scale: int) -> Decimal:
    """The Decimal of `minor` units at `scale` places (exact, with exactly `scale` places)."""
    return Decimal(int(minor)).scaleb(-scale)


__all__ = ["INT64_MAX", "INT64_MIN", "to_decimal", "to_decimal_amount", "to_minor"]
