"""Turn the simulation's integer-coded state into contract tables (see ``schema``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.schema import (
    CAPTURE_KINDS,
    CHANGE_TYPES,
    IP_TYPES,
    MOVEMENT_TYPES,
    TABLES,
    TS,
)
from riskscore.simulate import strings as S
from riskscore.simulate.config import TYPOLOGIES
from riskscore.simulate.events import RETURN_CODES, concat
from riskscore.simulate.network import COUNTRY_CODES, Network
from riskscore.simulate.population import GOOD
from riskscore.simulate.vocab import CARD_MERCHANT_CATEGORIES
from riskscore.simulate.world import World

MOVEMENT_CHUNK = 1_000_000
COUNTERPARTY_PREFIX = {
    "ach_pull": "ba_", "ach_return": "ba_", "received_credit": "ba_", "received_debit": "ba_",
    "outbound_transfer": "dest_", "card_authorization": "merch_", "card_capture": "merch_",
}


def _ts(world: World, t: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Seconds since the simulation start as UTC timestamps (null where ``null``)."""
    start_us = int(world.cfg.start.timestamp()) * 1_000_000
    return pa.array(start_us + t.astype(np.int64) * 1_000_000, TS, mask=null)


def _codes(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Integer codes to strings, -1 to null."""
    return pa.array(values, pa.string()).take(pa.array(codes.astype(np.int32), mask=codes < 0))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a bijective scramble, so ids reveal nothing about how they were made."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _opaque_ids(numbers: np.ndarray, salt: int, width: int = 14) -> pa.Array:
    """Opaque hex ids for integer ids."""
    with np.errstate(over="ignore"):
        z = _mix(numbers.astype(np.uint64) ^ np.uint64(salt))
    nibbles = (z[:, None] >> (np.arange(width, dtype=np.uint64) * np.uint64(4))) & np.uint64(15)
    chars = np.frombuffer(S.HEX, np.uint8)[nibbles.astype(np.uint8)]
    return pa.array(np.ascontiguousarray(chars).view(f"S{width}").ravel()).cast(pa.string())


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    schema = TABLES[name].schema
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def build_tables(world: World, net: Network) -> dict[str, pa.Table]:
    """All contract tables of a finished simulation."""
    pop = world.pop
    ids = world.identities.columns
    account_id = ids["account_id"]
    accounts = dict(ids)
    accounts["created_at"] = _ts(world, pop.signup_t)
    devices = net.devices.strings()
    ips = net.ips.strings()
    ip_type = net.ips.types()
    ip_country = net.ips.countries()

    def ip_columns(idx: np.ndarray) -> dict[str, pa.Array]:
        return {"ip": ips.take(pa.array(idx)),
                "ip_type": _codes(IP_TYPES, ip_type[idx]),
                "ip_country": _codes(tuple(COUNTRY_CODES), ip_country[idx])}

    sessions = {
        "account_id": account_id, "started_at": _ts(world, net.session_started),
        "completed_at": _ts(world, pop.signup_t), "device_id": devices.take(pa.array(net.device0)),
        **ip_columns(net.signup_ip),
    }
    lg = concat(world.logins)
    order = np.lexsort((lg["acct"], lg["t"]))
    lg = {k: v[order] for k, v in lg.items()}
    logins = {"account_id": account_id.take(pa.array(lg["acct"])), "ts": _ts(world, lg["t"]),
              "device_id": devices.take(pa.array(lg["device"])), **ip_columns(lg["ip"]),
              "success": pa.array(lg["success"])}
    ch = concat(world.changes)
    order = np.lexsort((ch["acct"], ch["t"]))
    ch = {k: v[order] for k, v in ch.items()}
    changes = {"account_id": account_id.take(pa.array(ch["acct"])), "ts": _ts(world, ch["t"]),
               "change_type": _codes(CHANGE_TYPES, ch["change_type"]),
               "device_id": devices.take(pa.array(ch["device"])),
               "ip": ips.take(pa.array(ch["ip"])),
               "new_value": pa.array(ch["new_value"].tolist(), pa.string())}
    return {
        "accounts": _table("accounts", accounts),
        "signup_sessions": _table("signup_sessions", sessions),
        "logins": _table("logins", logins),
        "changes": _table("changes", changes),
        "movements": _movements(world, account_id),
        "labels": _table("labels", _labels(world, account_id)),
    }


def _movements(world: World, account_id: pa.Array) -> pa.Table:
    """The movements table, built a chunk at a time to bound the memory strings need."""
    m = concat(world.movements)
    visible = np.flatnonzero(m["t"] < world.cfg.horizon)  # later rows are beyond the data
    rows = visible[np.lexsort((m["mid"][visible], m["t"][visible]))]
    m = {k: v[rows] for k, v in m.items()}
    world.movements = []
    batches = []
    for lo in range(0, len(rows), MOVEMENT_CHUNK):
        chunk = {k: v[lo:lo + MOVEMENT_CHUNK] for k, v in m.items()}
        table = _table("movements", _movement_columns(world, account_id, chunk))
        batches.extend(table.to_batches())
    return pa.Table.from_batches(batches, schema=TABLES["movements"].schema)


def _movement_columns(world: World, account_id: pa.Array,
                      m: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    salt = world.cfg.seed * 1_000_003 + 17
    prefixes = tuple(COUNTERPARTY_PREFIX.get(t, "") for t in MOVEMENT_TYPES)
    cp = m["counterparty"]
    counterparty = S.join(_codes(prefixes, m["type"]), _opaque_ids(np.maximum(cp, 0), salt + 1))
    has_related = m["related"] >= 0
    related = S.null_where(~has_related, S.join("mv_", _opaque_ids(np.maximum(m["related"], 0),
                                                                     salt)))
    return {
        "movement_id": S.join("mv_", _opaque_ids(m["mid"], salt)),
        "account_id": account_id.take(pa.array(m["acct"])),
        "ts": _ts(world, m["t"]),
        "type": _codes(MOVEMENT_TYPES, m["type"]),
        "amount": pa.array(m["amount"]),
        "status": S.where(m["failed"], "failed", "succeeded"),
        "instant": pa.array(m["instant"]),
        "international": pa.array(m["international"]),
        "counterparty": S.null_where(cp < 0, counterparty),
        "merchant_category": _codes(CARD_MERCHANT_CATEGORIES, m["merchant_category"]),
        "related_id": related,
        "capture_kind": _codes(CAPTURE_KINDS, m["capture_kind"]),
        "return_code": _codes(RETURN_CODES, m["return_code"]),
    }


def _labels(world: World, account_id: pa.Array) -> dict[str, pa.Array]:
    pop, b = world.pop, world.b
    fraud = pop.typology != GOOD
    known = world.label_known
    grouped = fraud & (pop.group >= 0)
    return {
        "account_id": account_id,
        "is_fraud": pa.array(fraud),
        "typology": _codes(TYPOLOGIES, np.where(fraud, pop.typology, -1)),
        "fraud_start_at": _ts(world, b.fraud_start, null=~fraud),
        "label_known_at": _ts(world, known, null=known < 0),
        "loss_amount": pa.array(world.loss, mask=~fraud),
        "ring_id": S.null_where(~grouped, S.join("ring_", S.digits(np.maximum(pop.group, 0), 5))),
    }


def write_tables(tables: dict[str, pa.Table], out: Path | str) -> None:
    """Write each table atomically as ``<name>.parquet`` (same input, same bytes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        tmp = out / f".{name}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd", row_group_size=1_000_000)
        os.replace(tmp, out / f"{name}.parquet")
