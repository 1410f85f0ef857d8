"""Money at the edge: exact conversion between Decimals and int64 minor units, or an error.

An amount converts exactly or not at all: never rounded, never a float, never outside the
int64 range (INT64_MIN itself excluded, so every amount has a negation).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import AmountError, InvalidInput
from ledger.money import INT64_MAX, INT64_MIN, to_decimal, to_decimal_amount, to_minor


@pytest.mark.parametrize(
    ("value", "scale", "minor"),
    [
        ("1.00", 2, 100),
        ("1", 2, 100),
        (1, 2, 100),
        (Decimal("0.01"), 2, 1),
        ("-1.5", 1, -15),
        ("1.000", 2, 100),  # trailing zeros beyond the scale are not places
        ("1.50000000000000000000000000000000000000", 2, 150),
        ("1E2", 2, 10_000),
        ("1e-2", 2, 1),
        ("0.1E1", 2, 100),
        ("10E-1", 0, 1),
        ("100E-3", 1, 1),
        ("1" + "0" * 100 + "E-100", 0, 1),  # 101 digits, far past any decimal context's precision
        (" 12.34 ", 2, 1234),
        ("0", 2, 0),
        ("-0.00", 2, 0),
        ("0E-999999999", 2, 0),
        ("0E+999999999", 2, 0),
        ("92233720368547758.07", 2, INT64_MAX),
        ("-92233720368547758.07", 2, -INT64_MAX),
        (str(INT64_MAX), 0, INT64_MAX),
        ("9.223372036854775807", 18, INT64_MAX),
        ("0.000000001", 9, 1),
    ],
)
def test_to_minor_exact(value, scale, minor):
    assert to_minor(value, scale) == minor


@pytest.mark.parametrize(
    ("value", "scale"),
    [
        ("1.005", 2),  # a third place at scale 2 is never rounded
        ("0.001", 2),
        ("1.5", 0),
        ("1.0000000000000000000000000000001", 2),  # 32 digits: a 28-digit context would round it away
        ("1E-3", 2),
        ("1E-999999999", 2),
        ("1E+30", 2),
        ("1E+999999999", 0),
        ("1E+999999999999999999", 0),
        ("92233720368547758.08", 2),  # INT64_MAX + 1 minor units
        (str(INT64_MAX + 1), 0),
        (str(INT64_MIN), 0),  # INT64_MIN has no negation
        ("-92233720368547758.08", 2),
        ("99999999999999999999", 0),
        ("1" * 40, 0),
    ],
)
def test_to_minor_refuses_inexact_or_out_of_range(value, scale):
    with pytest.raises(AmountError):
        to_minor(value, scale)


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.1,
        float("nan"),
        float("inf"),
        True,
        False,
        None,
        b"1",
        [1],
        "abc",
        "",
        "1.2.3",
        "NaN",
        "-Infinity",
        "sNaN",
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
)
def test_to_decimal_refuses_what_is_not_a_finite_decimal(value):
    with pytest.raises(AmountError):
        to_decimal(value)


def test_amount_error_is_invalid_input_and_value_error():
    with pytest.raises(InvalidInput):
        to_minor(1.5, 2)
    with pytest.raises(ValueError):
        to_minor("x", 2)


def test_to_minor_does_not_depend_on_the_decimal_context():
    with localcontext() as context:
        context.prec = 3
        assert to_minor("123456789.12", 2) == 12345678912
        with pytest.raises(AmountError):
            to_minor("1234.5678", 2)


@pytest.mark.parametrize(
    ("minor", "scale", "text"),
    [
        (100, 2, "1.00"),
        (1, 2, "0.01"),
        (-5, 2, "-0.05"),
        (0, 2, "0.00"),
        (7, 0, "7"),
        (INT64_MAX, 2, "92233720368547758.07"),
        (-INT64_MAX, 9, "-9223372036.854775807"),
        (INT64_MIN, 0, "-9223372036854775808"),
    ],
)
def test_to_decimal_amount_has_exactly_scale_places(minor, scale, text):
    amount = to_decimal_amount(minor, scale)
    assert str(amount) == text
    assert amount.as_tuple().exponent == -scale


@given(st.integers(INT64_MIN + 1, INT64_MAX), st.integers(0, 9))
def test_minor_units_round_trip(minor, scale):
    assert to_minor(to_decimal_amount(minor, scale), scale) == minor
    assert to_minor(str(to_decimal_amount(minor, scale)), scale) == minor


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4), st.integers(0, 9))
def test_to_minor_is_exact_or_refuses(value, scale):
    """Whatever to_minor returns is exactly value * 10**scale; when it refuses, that is no int64."""
    exact = Fraction(value) * 10**scale
    try:
        minor = to_minor(value, scale)
    except AmountError:
        assert exact.denominator != 1 or not INT64_MIN < exact.numerator <= INT64_MAX
    else:
        assert minor == exact
