"""Everyday money movement of every account, good or not.

Good accounts are heterogeneous: most sell a little, a few sell a lot, around what is
normal for their segment (``segments``); some have an issuing card or a financial
account; they get refunds, disputes and ACH returns at their segment's honest rates.
Fraud typologies add their own movement on top (``typologies``).
"""

from __future__ import annotations

import numpy as np

from riskscore.schema import BUSINESS_TYPES
from riskscore.simulate import segments, vocab
from riskscore.simulate.events import (
    CK,
    MC,
    RC,
    lognormal_amounts,
    movements,
    poisson_times,
    round_to,
)
from riskscore.simulate.population import DAY, HOUR
from riskscore.simulate.world import Behaviour, World

GOOD_CARD_CATEGORIES = np.array([MC[c] for c in vocab.CARD_MERCHANT_CATEGORIES])
GOOD_CARD_WEIGHTS = np.array([0.16, 0.14, 0.12, 0.12, 0.14, 0.1, 0.08, 0.07, 0.05, 0.012,
                              0.008])
MAX_DISPUTE_DELAY_DAYS = 110
CARD_TICKET_SHARE = 0.6  # a card purchase is about this share of the account's own ticket


def plan_behaviour(world: World) -> Behaviour:
    """Draw every account's everyday behaviour around its segment's normal (``segments``)."""
    rng, pop, horizon = world.rng, world.pop, world.cfg.horizon
    n = pop.n
    seg = segments.segment_of(pop.mcc)
    company = pop.business_type == BUSINESS_TYPES.index("company")
    churn = rng.random(n) < 0.25
    active_end = np.where(churn, pop.signup_t + rng.exponential(150 * DAY, n).astype(np.int64),
                          horizon)
    dormant = rng.random(n) < 0.22
    volume = segments.normal_charge_rate(pop.mcc, pop.business_type)
    charge_rate = np.where(dormant, 0.004, volume * rng.lognormal(-0.2, 1.0, n))
    ticket = segments.profile("ticket", seg) * rng.lognormal(0.0, 0.6, n)
    refund_mean = segments.profile("refund_p", seg)
    # Companies run their money through a financial account more often; some barely
    # acquire cards at all (ACH in, bills out): normal for them, a warning for others.
    has_treasury = rng.random(n) < np.where(company, 0.45, 0.2)
    treasury_first = has_treasury & company & (rng.random(n) < 0.35)
    charge_rate = np.where(treasury_first, charge_rate * 0.15, charge_rate)
    has_card = rng.random(n) < 0.25
    instant_user = rng.random(n) < 0.08
    interval = np.select([charge_rate > 0.5, charge_rate > 0.05], [1, 7], default=30)
    treasury_rate = np.where(has_treasury, rng.lognormal(np.log(0.012), 0.8, n)
                             * np.where(treasury_first, 4.0, 1.0), 0.0)
    # Card spend is paid for by what the account earns; the float kept back from payouts
    # covers about two payout intervals of it.
    card_rate = np.where(has_card, np.minimum(rng.lognormal(np.log(0.03), 0.8, n),
                                              0.3 * charge_rate + 2 * treasury_rate), 0.0)
    card_float = card_rate * CARD_TICKET_SHARE * ticket * (2 * interval + 7)
    # Staff: companies log in from many machines, sole proprietors from one or two.
    new_device_p = np.where(company, 0.10, 0.02) * rng.lognormal(0.0, 0.5, n)
    return Behaviour(
        active_end=np.minimum(active_end, horizon),
        fraud_start=np.full(n, -1, np.int64),
        fraud_end=np.full(n, -1, np.int64),
        charge_rate=charge_rate,
        ticket=ticket,
        refund_p=rng.beta(1.5, 1.5 * (1 - refund_mean) / refund_mean),
        dispute_p=np.minimum(segments.profile("dispute_p", seg) * rng.lognormal(0.0, 0.7, n),
                             0.05),
        international_p=np.clip(segments.profile("international_p", seg)
                                * rng.lognormal(0.0, 0.4, n), 0.0, 0.95),
        round_p=segments.profile("round_p", seg),
        intl_outbound_p=segments.profile("intl_outbound_p", seg),
        card_rate=card_rate,
        treasury_rate=treasury_rate,
        sweep_p=np.where(treasury_first, 0.6, 0.0),
        login_rate=rng.lognormal(np.log(0.05), 0.7, n) * np.where(company, 1.4, 0.75),
        new_device_p=np.minimum(new_device_p, 0.5),
        instant_p=np.where(instant_user, 0.5, 0.0),
        payout_interval=interval,
        payout_float=card_float.astype(np.int64),
    )


def add_business_days(t: np.ndarray, days: np.ndarray, start: np.datetime64) -> np.ndarray:
    """``t`` plus ``days`` business days (weekends skipped), keeping the time of day."""
    day = (start + (t // DAY).astype("timedelta64[D]")).astype("datetime64[D]")
    target = np.busday_offset(day, days.astype(np.int64), roll="forward")
    return (target - start).astype(np.int64) * DAY + t % DAY


def sell(world: World, acct: np.ndarray, t: np.ndarray, amount: np.ndarray,
         refund_p: np.ndarray, dispute_p: np.ndarray, international: np.ndarray) -> None:
    """Charges, and the refunds and disputes that follow some of them."""
    rng, ids = world.rng, world.ids
    charges = movements(ids, acct, t, "charge", amount, international=international)
    world.movements.append(charges)
    refunded = rng.random(len(acct)) < refund_p
    partial = rng.random(refunded.sum()) < 0.3
    r_amount = amount[refunded] * np.where(partial, rng.uniform(0.2, 0.8, partial.size), 1.0)
    world.movements.append(movements(
        ids, acct[refunded], t[refunded] + rng.exponential(4 * DAY, refunded.sum()).astype(int)
        + HOUR, "refund", r_amount, related=charges["mid"][refunded]))
    disputed = (rng.random(len(acct)) < dispute_p) & ~refunded
    delay = np.minimum(3 * DAY + rng.gamma(2.0, 12 * DAY, disputed.sum()),
                       MAX_DISPUTE_DELAY_DAYS * DAY).astype(np.int64)
    world.movements.append(movements(
        ids, acct[disputed], t[disputed] + delay, "dispute", amount[disputed],
        related=charges["mid"][disputed]))


def spend_on_card(world: World, acct: np.ndarray, t: np.ndarray, amount: np.ndarray,
                  category: np.ndarray, international: np.ndarray, kind: np.ndarray, *,
                  over_factor: np.ndarray | None = None, merchant: np.ndarray | None = None,
                  multi_p: float = 0.02) -> None:
    """Issuing card use: an authorisation for ``amount``, then its capture.

    Force captures have no authorisation; over-captures capture ``over_factor`` times
    the authorised amount; a share ``multi_p`` is captured a second time.
    """
    rng, ids = world.rng, world.ids
    n = len(acct)
    if merchant is None:
        merchant = rng.integers(0, 50_000, n)
    if over_factor is None:
        over_factor = rng.uniform(1.1, 1.3, n)
    forced = kind == CK["force"]
    auth = movements(ids, acct[~forced], t[~forced], "card_authorization", amount[~forced],
                     merchant_category=category[~forced], international=international[~forced],
                     counterparty=merchant[~forced])
    world.movements.append(auth)
    delay = rng.exponential(0.8 * DAY, n).astype(np.int64) + 60
    auth_of = np.full(n, -1, np.int64)
    auth_of[~forced] = auth["mid"]
    captured = amount * np.where(kind == CK["over"], over_factor, 1.0)
    world.movements.append(movements(
        ids, acct, t + delay, "card_capture", captured, merchant_category=category,
        international=international, counterparty=merchant, related=auth_of, capture_kind=kind))
    multi = ~forced & (rng.random(n) < multi_p)
    world.movements.append(movements(
        ids, acct[multi], t[multi] + delay[multi] + DAY, "card_capture",
        amount[multi] * rng.uniform(0.1, 0.5, multi.sum()), merchant_category=category[multi],
        international=international[multi], counterparty=merchant[multi],
        related=auth_of[multi], capture_kind=CK["multi"]))


def everyday_movements(world: World) -> None:
    """Baseline selling, card spend and treasury flows for every account."""
    rng, pop, b = world.rng, world.pop, world.b
    accts = np.arange(pop.n)
    # Selling.
    a, t = poisson_times(rng, accts, pop.signup_t + HOUR, b.active_end, b.charge_rate)
    amount = round_to(lognormal_amounts(rng, b.ticket[a], 0.6), rng.random(len(a)) < b.round_p[a],
                      1_000)
    sell(world, a, t, amount, b.refund_p[a], b.dispute_p[a],
         rng.random(len(a)) < b.international_p[a])
    volume_spikes(world)
    # Issuing card spend: restaurants add tips (legitimate over-captures), offline
    # terminals occasionally force-capture.
    a, t = poisson_times(rng, accts, pop.signup_t + DAY, b.active_end, b.card_rate)
    category = rng.choice(GOOD_CARD_CATEGORIES, len(a), p=GOOD_CARD_WEIGHTS).astype(np.int8)
    tip = (category == MC["restaurants"]) & (rng.random(len(a)) < 0.7)
    kind = np.where(tip, CK["over"], CK["normal"])
    kind = np.where(rng.random(len(a)) < 0.002, CK["force"], kind).astype(np.int8)
    amount = lognormal_amounts(rng, b.ticket[a] * CARD_TICKET_SHARE, 0.7)
    spend_on_card(world, a, t, amount, category, rng.random(len(a)) < 0.08, kind)
    treasury_flows(world, accts)


def volume_spikes(world: World) -> None:
    """Honest volume spikes: sales, holidays and campaigns of established accounts; a
    few new accounts launch with a bang too. A spike says little about an old account
    and a lot about a young one (``typologies.bust_out``)."""
    rng, pop, b = world.rng, world.pop, world.b
    life = b.active_end - pop.signup_t
    mature = (life > 120 * DAY) & (rng.random(pop.n) < 0.2)
    launch = (life > 30 * DAY) & ~mature & (rng.random(pop.n) < 0.02)
    earliest = np.where(mature, 60 * DAY, 2 * DAY)
    span = np.where(mature, life - 70 * DAY, 25 * DAY)
    idx = np.flatnonzero(mature | launch)
    start = pop.signup_t[idx] + earliest[idx] + (rng.random(len(idx)) * span[idx]).astype(
        np.int64)
    end = np.minimum(start + (rng.uniform(3, 14, len(idx)) * DAY).astype(np.int64),
                     b.active_end[idx])
    rate = np.maximum(b.charge_rate[idx] * rng.uniform(4, 12, len(idx)), 0.3)
    a, t = poisson_times(rng, idx, start, end, rate)
    amount = round_to(lognormal_amounts(rng, b.ticket[a] * rng.uniform(1.0, 2.0, len(a)), 0.6),
                      rng.random(len(a)) < b.round_p[a], 1_000)
    sell(world, a, t, amount, b.refund_p[a], b.dispute_p[a],
         rng.random(len(a)) < b.international_p[a])


def treasury_flows(world: World, accts: np.ndarray) -> None:
    """Financial-account users: credits in, some pull funding, bills out, transfers out."""
    rng, pop, b = world.rng, world.pop, world.b
    start = np.datetime64(world.cfg.start.replace(tzinfo=None), "D")
    rate = b.treasury_rate[accts]
    a, t = poisson_times(rng, accts, pop.signup_t[accts] + DAY, b.active_end[accts], rate)
    credit_amount = round_to(lognormal_amounts(rng, b.ticket[a] * 6, 0.8),
                             rng.random(len(a)) < 0.3, 10_000)
    credits = movements(world.ids, a, t, "received_credit", credit_amount,
                        counterparty=rng.integers(0, 200_000, len(a)))
    world.movements.append(credits)
    a2, t2 = poisson_times(rng, accts, pop.signup_t[accts] + DAY, b.active_end[accts], rate * 0.5)
    pull_amount = round_to(lognormal_amounts(rng, b.ticket[a2] * 5, 0.7),
                           rng.random(len(a2)) < 0.6, 10_000)
    pulls = movements(world.ids, a2, t2, "ach_pull", pull_amount,
                      counterparty=a2 + 1_000_000_000)  # the account's own external bank
    world.movements.append(pulls)
    returned = rng.random(len(a2)) < 0.012  # R01: insufficient funds at the other bank
    world.movements.append(movements(
        world.ids, a2[returned],
        add_business_days(t2[returned], rng.integers(1, 5, returned.sum()), start),
        "ach_return", pull_amount[returned], related=pulls["mid"][returned],
        return_code=RC["R01"], counterparty=pulls["counterparty"][returned]))
    # Money in is mostly spent later, partly: bills (received debits) and transfers out.
    inflow_acct = np.concatenate([a, a2])
    inflow_t = np.concatenate([t, t2])
    inflow_amount = np.concatenate([credit_amount, pull_amount])
    # Payroll and sweep accounts move nearly all of it on within hours: what a drain
    # looks like, and normal for a treasury-first company.
    spend = rng.random(len(inflow_acct)) < 0.7
    sweep = (rng.random(len(inflow_acct)) < b.sweep_p[inflow_acct])[spend]
    out_t = inflow_t[spend] + np.where(
        sweep, rng.integers(2 * HOUR, 30 * HOUR, spend.sum()),
        rng.exponential(5 * DAY, spend.sum()).astype(np.int64) + 2 * HOUR)
    out_amount = inflow_amount[spend] * np.where(sweep, rng.uniform(0.9, 1.0, spend.sum()),
                                                 rng.uniform(0.2, 0.85, spend.sum()))
    debit = rng.random(spend.sum()) < 0.4
    keep = out_t < b.active_end[inflow_acct[spend]]
    world.movements.append(movements(
        world.ids, inflow_acct[spend][keep & debit], out_t[keep & debit], "received_debit",
        out_amount[keep & debit], counterparty=rng.integers(0, 100_000, (keep & debit).sum())))
    transfer = keep & ~debit
    world.movements.append(movements(
        world.ids, inflow_acct[spend][transfer], out_t[transfer], "outbound_transfer",
        out_amount[transfer],
        international=rng.random(transfer.sum()) < b.intl_outbound_p[inflow_acct[spend][transfer]],
        counterparty=rng.integers(0, 100_000, transfer.sum())))
