"""Errors a caller of the store can cause, each naming the table, field or id at fault."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any


class StoreError(Exception):
    """Base class of every error the entity store raises on purpose."""


class InvalidData(StoreError, ValueError):
    """Input the store cannot accept: a missing file, column or field, or a bad value."""


class AccountNotFound(StoreError, LookupError):
    """No account with this id in the store."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} not found in table 'accounts'")
        self.account_id = account_id

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (serving.recorder) as constructed
        return type(self), (self.account_id,)


class DuplicateAccount(StoreError):
    """Accounts being added already exist in the store, or repeat within the input."""

    def __init__(
        self, table: str, ids: Sequence[str], *, total: int | None = None, repeated: bool = False
    ) -> None:
        total = len(ids) if total is None else total
        shown = ", ".join(repr(i) for i in ids[:10])
        more = f" and {total - len(ids[:10])} more" if total > len(ids[:10]) else ""
        where = f"repeated in {table}" if repeated else f"already in table {table!r}"
        super().__init__(f"{total} account id(s) {where}: {shown}{more}")
        self.table = table
        self.ids = list(ids)
        self.total = total
        self.repeated = repeated

    def __reduce__(self) -> tuple[Any, ...]:
        return partial(type(self), total=self.total, repeated=self.repeated), (self.table,
                                                                               self.ids)
