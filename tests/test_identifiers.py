import hashlib
import hmac

import pytest

from riskscore.identifiers import (
    email_domain,
    ip_prefix24,
    keyed_hash,
    normalise_address,
    normalise_email,
    normalise_phone,
    normalise_tax_id,
    parse_phone,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Smith+shop@GMAIL.com ", "johnsmith@gmail.com"),
        ("j.o.h.n@googlemail.com", "john@gmail.com"),
        ("Anna.Lee+x@outlook.com", "anna.lee@outlook.com"),
        ("no-at-sign", None),
        ("@example.com", None),
        (None, None),
    ],
)
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected


def test_email_domain():
    assert email_domain(" Sales@BrightLine.co.uk") == "brightline.co.uk"
    assert email_domain("bad") is None


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("+1 415 555 2671", "FR", "+14155552671"),
        ("07911 123456", "GB", "+447911123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("12", "US", "+112"),
        ("not a phone", "US", None),
    ],
)
def test_normalise_phone(raw, region, e164):
    assert normalise_phone(raw, region) == e164


def test_parse_phone_reports_country_and_validity():
    assert parse_phone("+44 7400 123456", "US") == ("+447400123456", "GB", True)
    assert parse_phone("12", "US")[2] is False


def test_address_variants_collapse():
    a = normalise_address("12 Market Street, Suite 4", "San Francisco", "94103", "US")
    b = normalise_address(" 12 market st.  ste 4 ", "SAN FRANCISCO", "94103", "us")
    assert a == b
    assert normalise_address("", "x", "1", "US") is None


def test_tax_id_and_ip():
    assert normalise_tax_id("12-3456789") == normalise_tax_id("123456789 ")
    assert ip_prefix24("203.0.113.7") == "203.0.113"
    assert ip_prefix24("garbage") is None


def test_keyed_hash_depends_on_key_and_kind():
    h = keyed_hash("email", "a@b.com", b"k1")
    assert h == keyed_hash("email", "a@b.com", b"k1")
    assert h != keyed_hash("email", "a@b.com", b"k2")
    assert h != keyed_hash("phone", "a@b.com", b"k1")
    assert len(h) == 32 and "a@b.com" not in h


def test_keyed_hash_is_hmac_sha256_of_kind_and_value_under_each_key() -> None:
    for key in (b"k1", b"another key"):  # the absorbed key state is kept per key
        for value in ("", "jo@example.com", "é" * 40):
            expected = hmac.new(key, f"email:{value}".encode(), hashlib.sha256).hexdigest()
            assert keyed_hash("email", value, key) == expected[:32]
