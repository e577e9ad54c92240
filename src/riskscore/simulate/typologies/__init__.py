"""One generative mechanism per fraud typology (see docs/data.md and DOMAIN.md).

Each module exposes ``plan(world, idx)``, run before everyday activity is drawn (it sets
when the fraud starts and when the account goes quiet), and ``act(world, net, idx)``,
which adds the typology's own logins, changes, movements and payout points.
"""

from __future__ import annotations

from types import ModuleType

from riskscore.simulate.typologies import (
    ach_debit_direct,
    ach_third_party,
    bust_out,
    dispute_heavy,
    force_capture,
    ring,
    signup_burst,
    takeover,
)

MECHANISMS: dict[str, ModuleType] = {
    "bust_out": bust_out,
    "account_takeover": takeover,
    "ach_debit_direct": ach_debit_direct,
    "ach_third_party": ach_third_party,
    "force_capture": force_capture,
    "dispute_heavy": dispute_heavy,
    "ring": ring,
    "signup_burst": signup_burst,
}
