import pytest

from riskscore.identifiers import keyed_hash
from riskscore.store import IdentifierHasher


def test_normalised_variants_hash_equal(hasher):
    assert hasher.hash("email", "John.Smith+shop@Gmail.com") == hasher.hash(
        "email", " johnsmith@GOOGLEMAIL.com"
    )
    assert hasher.hash("phone", "(415) 555-2671", "US") == hasher.hash(
        "phone", "+1 415-555-2671", "FR"
    )
    assert hasher.hash("address", "12 Market Street, Suite 4", "San Francisco", "94103", "US") == (
        hasher.hash("address", "12 market st. ste 4", "San  Francisco", "94 103", "US")
    )
    assert hasher.hash("tax_id", "12-3456789") == hasher.hash("tax_id", "123456789")
    assert hasher.hash("ip24", "203.0.113.10") == hasher.hash("ip24", " 203.0.113.77")


def test_hash_is_keyed_hmac_of_normalised_value(hasher):
    assert hasher.hash("email", "A.B+x@gmail.com") == keyed_hash("email", "ab@gmail.com",
                                                                 b"store-tests-key")
    assert IdentifierHasher(b"other-key").hash("email", "ab@gmail.com") != hasher.hash(
        "email", "ab@gmail.com"
    )
    # the kind is part of the hashed message: the same text of two kinds does not collide
    assert hasher.hash("device", "abc") != hasher.hash("bank_account", "abc")


def test_national_phone_uses_the_account_country(hasher):
    assert hasher.hash("phone", "01 42 68 53 00", "FR") == hasher.hash("phone", "+33142685300")
    assert hasher.hash("phone", "01 42 68 53 00", "FR") != hasher.hash(
        "phone", "01 42 68 53 00", "GB"
    )


@pytest.mark.parametrize(("kind", "parts"), [
    ("email", (None,)), ("email", ("not-an-email",)), ("phone", ("", "US")),
    ("address", (None, "Paris", "75001", "FR")), ("ip24", ("::1",)), ("device", ("  ",)),
])
def test_missing_or_unparseable_values_hash_to_none(hasher, kind, parts):
    assert hasher.hash(kind, *parts) is None


def test_application_pairs(hasher, raw):
    account, signup = raw["accounts"][0], raw["signup_sessions"][0]
    pairs = hasher.application(account, signup)
    assert [kind for kind, _ in pairs] == [
        "email", "phone", "address", "tax_id", "bank_account", "device", "ip", "ip24",
    ]
    assert dict(pairs)["phone"] == hasher.hash("phone", "+14155552671")
    without_phone = hasher.application({**account, "phone": None}, signup)
    assert "phone" not in dict(without_phone)


def test_change_value_kinds(hasher):
    assert hasher.change_value("bank_account", "fp_X9", "US") == (
        "bank_account", hasher.hash("bank_account", "fp_X9")
    )
    assert hasher.change_value("phone", "06 12 34 56 78", "FR") == (
        "phone", hasher.hash("phone", "+33612345678")
    )
    assert hasher.change_value("password", None, "US") is None
    assert hasher.change_value("email", None, "US") is None


def test_hash_column_matches_single_hashes(hasher):
    phones, countries = ["(415) 555-2671", None, "07911 123456"], ["US", "US", "GB"]
    assert hasher.hash_column("phone", phones, countries) == [
        hasher.hash("phone", p, c) for p, c in zip(phones, countries, strict=True)
    ]


def test_from_settings_uses_the_settings_key():
    from riskscore.settings import Settings

    settings = Settings(hash_key="k-123")
    assert IdentifierHasher.from_settings(settings).hash("device", "d") == keyed_hash(
        "device", "d", b"k-123"
    )


def test_a_dropped_hasher_frees_its_caches_at_once() -> None:
    """Batch jobs fill the per-kind caches with ~10^5 entries: they go with the hasher by
    reference counting, not at some later collection (or at exit). Pickled, a hasher
    keeps its key (worker processes hash alike) and starts with empty caches."""
    import gc
    import pickle
    import weakref

    from riskscore.store.hashing import IdentifierHasher

    hasher = IdentifierHasher(b"k")
    assert hasher.hash("email", "A@x.com") is not None
    copy = pickle.loads(pickle.dumps(hasher))
    assert copy.hash("email", "a@x.com") == hasher.hash("email", "A@x.com")
    gone = weakref.ref(hasher)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del hasher
        assert gone() is None
    finally:
        if enabled:
            gc.enable()
