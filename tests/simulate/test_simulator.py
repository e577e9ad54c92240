"""The simulated platform: deterministic, in the contract, realistic and honest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskscore.identifiers import ip_prefix24, normalise_address, normalise_email, normalise_phone
from riskscore.schema import MOVEMENT_SIGN, TABLES
from riskscore.simulate import SimulationConfig, simulate, write_tables
from riskscore.simulate.payouts import PAYABLE_TYPES
from riskscore.simulate.population import build_population
from riskscore.simulate.segments import SEGMENTS


def _digests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("*"))}


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    cfg = SimulationConfig(n_accounts=1_500, days=120, seed=11)
    write_tables(simulate(cfg), tmp_path / "a")
    write_tables(simulate(cfg), tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    write_tables(simulate(SimulationConfig(n_accounts=1_500, days=120, seed=12)), tmp_path / "c")
    assert _digests(tmp_path / "a")["movements.parquet"] != _digests(tmp_path / "c")[
        "movements.parquet"]


def test_tables_follow_the_contract(sim_dir: Path) -> None:
    for name, table in TABLES.items():
        schema = pq.read_schema(sim_dir / f"{name}.parquet")
        assert schema.names == [c.name for c in table.columns], name
        for col in table.columns:
            assert schema.field(col.name).type == col.type, (name, col.name)
        data = pq.read_table(sim_dir / f"{name}.parquet")
        for col in table.required:
            assert data.column(col).null_count == 0, (name, col)


@pytest.fixture(scope="module")
def frames(sim_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(sim_dir / f"{name}.parquet") for name in TABLES}


def test_fraud_rate_and_every_typology_present(frames) -> None:
    labels = frames["labels"]
    assert 0.03 <= labels.is_fraud.mean() <= 0.05
    counts = labels.typology.value_counts()
    for typology in ("bust_out", "account_takeover", "ach_debit_direct", "ach_third_party",
                     "force_capture", "dispute_heavy", "ring", "signup_burst"):
        assert counts.get(typology, 0) >= 10, typology


def test_no_impossible_rows(frames, sim_dir: Path) -> None:
    mov, acc = frames["movements"], frames["accounts"].set_index("account_id")
    assert (mov.amount > 0).all()
    assert mov.movement_id.is_unique
    for name in ("movements", "logins", "changes"):
        df = frames[name]
        assert (df.ts >= acc.created_at.reindex(df.account_id).to_numpy()).all(), name
    sessions = frames["signup_sessions"]
    assert (sessions.started_at < sessions.completed_at).all()
    # A payout never exceeds the payments balance built up strictly before it.
    con = duckdb.connect()
    signs = " ".join(f"WHEN '{k}' THEN {v}" for k, v in MOVEMENT_SIGN.items()
                     if k in PAYABLE_TYPES)
    over = con.execute(f"""
        WITH m AS (
            SELECT account_id, ts, type, amount, status,
                   CASE WHEN status = 'failed' THEN 0
                        ELSE amount * (CASE type {signs} ELSE 0 END) END
                       AS signed
            FROM read_parquet('{sim_dir / "movements.parquet"}')),
        w AS (
            SELECT *, coalesce(sum(signed) OVER (PARTITION BY account_id ORDER BY ts RANGE
                BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING), 0) AS before
            FROM m)
        SELECT count(*) FROM w WHERE type = 'payout' AND status = 'succeeded'
            AND amount > before""").fetchone()[0]
    assert over == 0


def test_related_rows_point_backwards(frames) -> None:
    mov = frames["movements"]
    by_id = mov.set_index("movement_id")
    rel = mov[mov.related_id.notna() & mov.related_id.isin(by_id.index)]
    assert len(rel) > 1000
    assert (rel.ts.to_numpy() >= by_id.ts.reindex(rel.related_id).to_numpy()).all()
    refunds = mov[mov.type == "refund"]
    parents = by_id.reindex(refunds.related_id)
    assert (parents.type.dropna() == "charge").all()
    assert (refunds.amount.to_numpy() <= parents.amount.to_numpy()).all()


def test_labels_come_after_fraud_starts(frames) -> None:
    lab, acc = frames["labels"], frames["accounts"].set_index("account_id")
    fraud = lab[lab.is_fraud]
    assert fraud.fraud_start_at.notna().all() and lab[~lab.is_fraud].fraud_start_at.isna().all()
    assert (fraud.fraud_start_at.to_numpy() >= acc.created_at.reindex(fraud.account_id)).all()
    known = fraud.dropna(subset=["label_known_at"])
    assert (known.label_known_at >= known.fraud_start_at).all()
    delay = (known.label_known_at - known.fraud_start_at).dt.days
    assert delay.median() >= 5  # labels arrive late ...
    assert 0.02 < 1 - len(known) / len(fraud) < 0.2  # ... and some never arrive
    assert (lab[~lab.is_fraud].label_known_at.isna()).all()


def test_a_large_share_of_fraud_looks_clean_at_onboarding(frames) -> None:
    cfg = SimulationConfig(n_accounts=50_000, fraud_rate=0.02)
    pop = build_population(np.random.default_rng(0), cfg)
    fraud = pop.typology >= 0
    assert pop.clean[fraud].mean() >= 0.30
    # In the data: many fraud applications are verified, from residential or mobile IPs,
    # on non-disposable email, with a website - just like good ones.
    acc = frames["accounts"].merge(frames["signup_sessions"], on="account_id").merge(
        frames["labels"], on="account_id")
    looks_ok = ((acc.verification_status == "verified") & acc.ip_type.isin(["residential",
                "mobile"]) & ~acc.email.str.contains("mailinator|yopmail|guerrilla|tempmail"))
    assert looks_ok[acc.is_fraud].mean() >= 0.30
    assert looks_ok[~acc.is_fraud].mean() < 0.85  # good accounts have warts too
    good = acc[~acc.is_fraud]
    assert good.website.isna().mean() > 0.2
    assert good.email.str.lower().str.contains("gmail|yahoo|outlook|hotmail").mean() > 0.2


def test_identifiers_are_realistic_and_messy(frames) -> None:
    acc = frames["accounts"]
    assert acc.email.str.contains("@").all()
    assert (acc.email != acc.email.str.strip()).any()  # stray whitespace
    assert (acc.email.str.strip() != acc.email.str.strip().str.lower()).any()  # case
    e164 = [normalise_phone(p, c) for p, c in zip(acc.phone, acc.country, strict=True)]
    assert np.mean([x is not None and x.startswith("+") for x in e164]) > 0.85
    assert acc.phone.isna().any()
    assert not acc.phone.dropna().str.startswith("+").all()  # national formats too
    octets = frames["logins"].ip.str.split(".", expand=True).astype(int)
    assert octets.shape[1] == 4 and octets.min().min() >= 0 and octets.max().max() <= 255
    assert not octets[0].isin([10, 127, 0]).any()


def _signup_t(frames) -> pd.DataFrame:
    return frames["labels"].merge(frames["accounts"], on="account_id").merge(
        frames["signup_sessions"], on="account_id")


def _accounts_of(frames, typology: str) -> pd.Index:
    lab = frames["labels"]
    return pd.Index(lab.account_id[lab.typology == typology])


def test_bust_out_bursts_then_disputes(frames) -> None:
    mov, lab = frames["movements"], frames["labels"].set_index("account_id")
    ids = _accounts_of(frames, "bust_out")
    charges = mov[(mov.type == "charge") & mov.account_id.isin(ids)].copy()
    charges["after"] = charges.ts >= lab.fraud_start_at.reindex(charges.account_id).to_numpy()
    daily = charges.groupby(["account_id", charges.ts.dt.floor("D")]).size()
    assert daily.groupby(level=0).max().median() >= 5
    burst_payouts = mov[(mov.type == "payout") & mov.account_id.isin(ids)]
    assert burst_payouts.instant.mean() > 0.4
    disputed = mov[(mov.type == "dispute") & mov.account_id.isin(ids)].account_id.nunique()
    assert disputed / len(ids) > 0.7


def test_takeover_new_device_then_bank_change_then_payout(frames) -> None:
    mov, lab = frames["movements"], frames["labels"].set_index("account_id")
    logins, changes = frames["logins"], frames["changes"]
    ids = _accounts_of(frames, "account_takeover")
    hits = 0
    for acct in ids:
        start = lab.fraud_start_at[acct]
        before = (logins.account_id == acct) & (logins.ts < start - pd.Timedelta(days=1))
        seen = set(logins.device_id[before])
        seen |= set(frames["signup_sessions"].device_id[frames["signup_sessions"].account_id
                                                       == acct])
        bank = changes[(changes.account_id == acct) & (changes.change_type == "bank_account")
                       & (changes.ts >= start)]
        if bank.empty or bank.device_id.iloc[0] in seen:
            continue
        pay = mov[(mov.account_id == acct) & (mov.type == "payout") & (mov.ts >= bank.ts.iloc[0])
                  & (mov.ts <= bank.ts.iloc[0] + pd.Timedelta(days=2))]
        hits += not pay.empty
    assert hits / len(ids) > 0.6


def test_ach_debit_fraud_pulls_spends_and_is_returned(frames) -> None:
    mov = frames["movements"]
    ids = _accounts_of(frames, "ach_debit_direct")
    pulls = mov[(mov.type == "ach_pull") & mov.account_id.isin(ids)]
    returns = mov[(mov.type == "ach_return") & mov.account_id.isin(ids)]
    assert returns.return_code.isin(["R10", "R29"]).all()
    lag = (returns.ts.to_numpy() - pulls.set_index("movement_id").ts.reindex(
        returns.related_id).to_numpy()) / np.timedelta64(1, "D")
    assert np.nanmax(lag) <= 8 and np.nanmedian(lag) >= 2  # 2-4 business days
    spent = mov[mov.account_id.isin(ids) & mov.type.isin(["card_capture", "outbound_transfer"])]
    assert spent.amount.sum() > 0.8 * pulls.amount.sum()
    # Good accounts pull too, and are rarely returned, and then for insufficient funds.
    good_returns = mov[(mov.type == "ach_return") & ~mov.account_id.isin(
        frames["labels"].account_id[frames["labels"].is_fraud])]
    assert (good_returns.return_code == "R01").all()


def test_third_party_ach_many_victims_then_out(frames) -> None:
    mov = frames["movements"]
    ids = _accounts_of(frames, "ach_third_party")
    inbound = mov[mov.account_id.isin(ids) & mov.type.isin(["ach_pull", "received_credit"])]
    assert inbound.groupby("account_id").counterparty.nunique().median() >= 2
    assert mov[mov.account_id.isin(ids) & (mov.type == "outbound_transfer")].account_id.nunique(
    ) >= 0.5 * len(ids)


def test_force_capture_and_over_capture(frames) -> None:
    mov = frames["movements"]
    ids = _accounts_of(frames, "force_capture")
    caps = mov[(mov.type == "card_capture") & mov.account_id.isin(ids)]
    share = caps.capture_kind.isin(["force", "over", "multi"]).groupby(caps.account_id).mean()
    assert share.median() > 0.5
    good = mov[(mov.type == "card_capture") & ~mov.account_id.isin(ids)]
    assert good.capture_kind.isin(["force"]).mean() < 0.02
    forced = caps[caps.capture_kind == "force"]
    assert forced.related_id.isna().all()


def test_dispute_heavy_merchants_exceed_their_segment(frames) -> None:
    mov, lab, acc = frames["movements"], frames["labels"], frames["accounts"]
    counts = mov[mov.type.isin(["charge", "dispute"])].pivot_table(
        index="account_id", columns="type", values="amount", aggfunc="size", fill_value=0)
    totals = counts.join(acc.set_index("account_id").mcc).join(lab.set_index("account_id"))
    totals["segment"] = totals.mcc.map({c: s.name for s in SEGMENTS for c in s.mccs})
    heavy = totals[totals.typology == "dispute_heavy"]
    good = totals[~totals.is_fraud]
    # Pooled dispute rate: several times the honest rate of the same segment ...
    seg_rate = good.groupby("segment").dispute.sum() / good.groupby("segment").charge.sum()
    expected = (heavy.charge * heavy.segment.map(seg_rate)).sum()
    assert heavy.dispute.sum() > 3 * expected
    rate = totals.dispute / totals.charge.clip(lower=1)
    assert heavy.dispute.sum() / heavy.charge.sum() > 0.005
    assert rate[good.index].median() < 0.0075
    # ... while honest travel agencies live above the 0.75% line that alarms elsewhere.
    assert seg_rate["travel"] > 0.0075 > seg_rate["food"] * 5


def test_rings_share_identifiers_and_bursts_share_a_subnet(frames) -> None:
    df = _signup_t(frames)
    rings = df[df.typology == "ring"]
    def keys(row) -> set[tuple[str, str]]:
        return {("email", normalise_email(row.email)), ("phone", normalise_phone(row.phone,
                row.country)), ("bank", row.bank_fingerprint), ("tax", row.tax_id),
                ("device", row.device_id), ("ip24", ip_prefix24(row.ip)),
                ("addr", normalise_address(row.address_line1, row.city, row.postal_code,
                                           row.country))} - {(k, None) for k in
                                                             ("email", "phone", "bank", "tax",
                                                              "addr")}
    linked = 0
    for _, members in rings.groupby("ring_id"):
        sets = [keys(r) for r in members.itertuples()]
        linked += sum(any(s & o for j, o in enumerate(sets) if j != i) for i, s in
                      enumerate(sets))
    assert linked / len(rings) > 0.9
    bursts = df[df.typology == "signup_burst"]
    spread = bursts.groupby("ring_id").created_at.agg(lambda s: s.max() - s.min())
    assert (spread <= pd.Timedelta(hours=3)).all()
    subnets = bursts.groupby("ring_id").ip.agg(lambda s: s.map(ip_prefix24).nunique())
    assert (subnets == 1).all()


def test_normal_depends_on_the_segment_and_size(frames) -> None:
    df = _signup_t(frames)
    # Velocity is non-monotone: dozens of signups from one office IP are chains onboarding
    # their locations (good); rings and bursts come in smaller groups.
    per_ip = df.groupby("ip").account_id.transform("size")
    assert (per_ip >= 25).sum() >= 25
    assert not df.is_fraud[per_ip >= 25].any()
    assert df.is_fraud[(per_ip >= 3) & (per_ip < 25)].mean() > 3 * df.is_fraud.mean()
    # Webmail: normal for individuals, a warning for a company with a website.
    webmail = df.email.str.lower().str.contains("gmail|yahoo|outlook|hotmail|icloud|aol|gmx")
    good = ~df.is_fraud
    individual, company_site = df.business_type == "individual", (
        (df.business_type == "company") & df.website.notna())
    assert webmail[good & individual].mean() > 0.8
    assert webmail[good & company_site].mean() < 0.2
    # Dispute rates differ by segment among good accounts.
    mov = frames["movements"]
    n = mov[mov.type.isin(["charge", "dispute"])].merge(
        df[good][["account_id", "mcc"]], on="account_id").groupby(["mcc", "type"]).size()
    rate = n.xs("dispute", level="type") / n.xs("charge", level="type")
    assert rate.get("4722", 0) > 10 * rate.reindex(["5812", "5814", "5411"]).fillna(0).mean()
