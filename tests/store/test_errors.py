"""Store errors cross process boundaries (the service's recorder) as they were raised."""

from __future__ import annotations

import pickle

import pytest

from riskscore.store.errors import AccountNotFound, DuplicateAccount, InvalidData


@pytest.mark.parametrize("error", [
    DuplicateAccount("accounts", ["acct_a", "acct_b"], total=12, repeated=True),
    AccountNotFound("acct_x"),
    InvalidData("application.country must be two letters"),
])
def test_a_store_error_pickles_as_raised(error: Exception) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert vars(again) == vars(error)
