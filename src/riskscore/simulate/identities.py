"""The onboarding application of every account: names, contacts, bank, verification.

Warning signs are drawn with higher odds for risky fraud, never with certainty: good
small sellers use webmail and have no website too, and clean fraud looks good.
Identifiers are shared where life shares them: rings copy from a donor, repeat
offenders reuse a known-fraud identifier, families and buildings share addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskscore.schema import BUSINESS_TYPES, VERIFICATION_STATUSES
from riskscore.simulate import strings as S
from riskscore.simulate import vocab
from riskscore.simulate.population import GOOD, Population, T

COUNTRY = np.array(vocab.COUNTRIES)


@dataclass
class Identities:
    """The ``accounts`` table columns plus what later stages need."""

    columns: dict[str, pa.Array]
    repeat_source: np.ndarray  # int64: earlier fraud account an identifier was reused from, or -1


def _per_country(rng: np.random.Generator, country: np.ndarray,
                 table: dict[str, tuple[str, ...]]) -> np.ndarray:
    out = np.empty(len(country), dtype=object)
    for ci, code in enumerate(vocab.COUNTRIES):
        rows = np.flatnonzero(country == ci)
        choices = np.array(table[code], dtype=object)
        out[rows] = choices[rng.integers(0, len(choices), len(rows))]
    return out


def _arr(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string())


def _names(rng, pop):
    first = _per_country(rng, pop.country, vocab.FIRST_NAMES)
    last = _per_country(rng, pop.country, vocab.LAST_NAMES)
    return _arr(first), _arr(last)


def _business_names(rng, pop, first, last):
    n = pop.n
    trade = S.take([m[2] for m in vocab.MCCS], pop.mcc)
    brand = S.join(S.pick(rng, vocab.BUSINESS_ADJECTIVES, n), " ",
                   S.pick(rng, vocab.BUSINESS_NOUNS, n))
    personal = (pop.business_type == BUSINESS_TYPES.index("individual")) & (rng.random(n) < 0.6)
    stem = S.where(personal, S.join(first, " ", last), brand)
    suffix = _arr(_per_country(rng, pop.country, vocab.CORPORATE_SUFFIX))
    company = pop.business_type == BUSINESS_TYPES.index("company")
    name = S.join(stem, " ", trade)
    with_suffix = pc.utf8_trim_whitespace(S.join(name, " ", suffix))
    return S.where(company, with_suffix, name), stem


def _websites(rng, pop, stem, risky):
    n = pop.n
    base = np.select(
        [pop.business_type == 1, pop.business_type == 2], [0.80, 0.70], default=0.42
    )
    # A sole proprietor without a site is unremarkable; a company without one is not.
    individual = pop.business_type == BUSINESS_TYPES.index("individual")
    has = rng.random(n) < np.where(risky, base * np.where(individual, 0.8, 0.5), base)
    tld = _arr(_per_country(rng, pop.country, vocab.WEBSITE_TLDS))
    trade = S.take([m[2] for m in vocab.MCCS], pop.mcc)
    # Domains are unique in life: brand, often the trade, often a town or a number.
    extra = S.where(rng.random(n) < 0.5, S.slug(trade), "")
    town = _arr(_per_country(rng, pop.country, {c: tuple(city for city, _ in vocab.CITIES[c])
                                                for c in vocab.COUNTRIES}))
    suffix = S.where(rng.random(n) < 0.5, S.slug(town), S.digits(rng.integers(1, 9999, n), 1))
    domain = S.join(S.slug(stem), extra, suffix, tld)
    style = rng.integers(0, 5, n)
    prefix = S.take(["https://www.", "https://", "http://www.", "www.", ""], style)
    trailing = S.where(rng.random(n) < 0.2, "/", "")
    url = S.join(prefix, domain, trailing)
    return S.null_where(~has, url), S.null_where(~has, domain), has


def _emails(rng, pop, first, last, domain, has_site, risky):
    n = pop.n
    r = rng.random(n)
    # Webmail is normal for individuals whatever their intent; a company with a website
    # writing from webmail is a warning sign.
    individual = pop.business_type == BUSINESS_TYPES.index("individual")
    business_p = np.where(individual, 0.15, np.where(risky, 0.3, 0.9))
    business = has_site & (r < np.where(pop.batch >= 0, 0.97, business_p))
    disposable = ~business & (rng.random(n) < np.where(risky, 0.10, 0.003))
    mismatch = business & (rng.random(n) < np.where(risky, 0.25, 0.03))
    # Who the mailbox is named after: the representative, or someone else (risky, more often).
    other_first, other_last = _names(rng, pop)
    alias = rng.random(n) < np.where(risky, 0.45, 0.08)
    f = pc.utf8_lower(S.where(alias, other_first, first))
    l_ = pc.utf8_lower(S.where(alias, other_last, last))
    nn = S.digits(rng.integers(1, 99, n), 2)
    # Mailboxes are unique: most people add digits to a name that was taken.
    tail = S.where(rng.random(n) < 0.85, S.digits(rng.integers(1, 99_999, n), 1), "")
    pattern = rng.integers(0, 5, n)
    local = pc.case_when(
        pa.StructArray.from_arrays([pa.array(pattern == k) for k in range(4)],
                                   names=[str(k) for k in range(4)]),
        S.join(f, ".", l_), S.join(f, l_), S.join(pc.utf8_slice_codeunits(f, 0, 1), l_),
        S.join(f, ".", l_, nn), S.join(f, "_", nn),
    )
    webmail = _arr(_per_country(rng, pop.country, vocab.FREE_EMAIL_BY_COUNTRY))
    throwaway = S.pick(rng, vocab.DISPOSABLE_EMAIL, n)
    other_domain = S.join(S.slug(S.join(S.pick(rng, vocab.BUSINESS_NOUNS, n),
                                        S.pick(rng, vocab.BUSINESS_ADJECTIVES, n))), ".com")
    role = S.pick(rng, vocab.EMAIL_ROLE_LOCALS, n)
    biz_local = S.where(rng.random(n) < 0.5, role, f)
    biz_domain = S.where(mismatch, other_domain, pc.fill_null(domain, "example.com"))
    email = S.where(business, S.join(biz_local, "@", biz_domain),
                    S.join(local, tail, "@", S.where(disposable, throwaway, webmail)))
    # Messy input: capitalised, shouted domains, stray whitespace.
    email = S.where(rng.random(n) < 0.06, pc.utf8_capitalize(email), email)
    email = S.where(rng.random(n) < 0.02, pc.utf8_upper(email), email)
    return S.where(rng.random(n) < 0.03, S.join(" ", email, " "), email)


def _phones(rng, pop, risky):
    n = pop.n
    area = _per_country(rng, pop.country, {
        code: tuple(c[1].split("|")[1] for c in vocab.CITIES[code]) for code in vocab.COUNTRIES
    })
    sub = rng.integers(0, 10**8, n)
    exch = rng.integers(201, 999, n)
    code = COUNTRY[pop.country]
    e164 = np.empty(n, dtype=object)
    national = np.empty(n, dtype=object)
    for i in range(n):  # per-country numbering plans; cheap next to the rest
        s = sub[i]
        c = code[i]
        if c in ("US", "CA"):
            num = f"{area[i]}{exch[i]:03d}{s % 10000:04d}"
            e164[i] = "+1" + num
            national[i] = f"({num[:3]}) {num[3:6]}-{num[6:]}"
        elif c == "GB":
            num = f"7{4 + s % 4}{s // 4 % 10**8:08d}"
            e164[i] = "+44" + num
            national[i] = f"0{num[:4]} {num[4:]}"
        elif c == "FR":
            num = f"{6 + s % 2}{s // 2 % 10**8:08d}"
            e164[i] = "+33" + num
            national[i] = "0" + " ".join([num[0]] + [num[k:k + 2] for k in range(1, 9, 2)])
        else:
            num = f"15{(1, 2, 7, 9)[s % 4]}{s // 4 % 10**8:08d}"
            e164[i] = "+49" + num
            national[i] = f"0{num[:3]} {num[3:]}"
    fmt = rng.random(n)
    phone = np.where(fmt < 0.4, e164, national)
    dotted = fmt > 0.9
    phone[dotted] = [p.replace(" ", ".").replace("(", "").replace(")", "").replace("-", ".")
                     for p in phone[dotted]]
    foreign = rng.random(n) < np.where(risky, 0.15, 0.02)
    phone[foreign] = [f"+234 80{x % 10**8:08d}" for x in sub[foreign]]
    invalid = rng.random(n) < np.where(risky, 0.07, 0.005)
    phone[invalid] = [f"{x % 10**6:06d}" for x in sub[invalid]]
    missing = rng.random(n) < np.where(risky, 0.08, 0.04)
    phone[missing] = None
    return phone


def _addresses(rng, pop, risky, city_idx):
    n = pop.n
    number = rng.integers(1, 2400, n)
    street = _per_country(rng, pop.country, vocab.STREET_NAMES)
    line = np.empty(n, dtype=object)
    city = np.empty(n, dtype=object)
    postal = np.empty(n, dtype=object)
    types = {c: vocab.STREET_TYPES[c] for c in vocab.COUNTRIES}
    kind = rng.integers(0, 8, n)
    spelling = rng.integers(0, 4, n)
    post = rng.integers(0, 10**6, n)
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    code = COUNTRY[pop.country]
    for i in range(n):
        c = code[i]
        spellings = types[c][kind[i] % len(types[c])]
        st = spellings[spelling[i] % len(spellings)]
        cname, prefix = vocab.CITIES[c][city_idx[i] % len(vocab.CITIES[c])]
        pre = prefix.split("|")[0]
        p = post[i]
        if c == "FR":
            line[i] = f"{number[i] % 200} {st} {street[i]}"
            postal[i] = f"{pre}{p % 100:02d}"
        elif c == "DE":
            line[i] = f"{street[i]}{st} {number[i] % 200}"
            postal[i] = f"{pre}{p % 100:02d}"
        elif c == "GB":
            line[i] = f"{number[i] % 300} {street[i]} {st}"
            postal[i] = f"{pre}{p % 9 + 1} {p % 10}{letters[p % 20]}{letters[p // 20 % 20]}"
        elif c == "CA":
            line[i] = f"{number[i]} {street[i]} {st}"
            postal[i] = f"{pre} {p % 10}{letters[p % 20]}{p // 10 % 10}"
        else:
            line[i] = f"{number[i]} {street[i]} {st}"
            postal[i] = f"{pre}{p % 100:02d}"
        city[i] = cname
    suite = rng.random(n) < 0.12
    line[suite] = [f"{x}, Suite {s}" for x, s in zip(line[suite], post[suite] % 900 + 100,
                                                       strict=True)]
    messy = rng.random(n) < 0.05
    line[messy] = [x.upper() for x in line[messy]]
    missing = rng.random(n) < np.where(risky, 0.10, 0.03)
    line[missing] = None
    return line, city, postal


def _tax_ids(rng, pop, risky):
    n = pop.n
    d = rng.integers(10**8, 10**9, n)
    code = COUNTRY[pop.country]
    tax = np.empty(n, dtype=object)
    dash = rng.random(n) < 0.6
    for i in range(n):
        c = code[i]
        s = str(d[i])
        if c == "US":
            tax[i] = f"{s[:2]}-{s[2:]}" if dash[i] else s
        elif c == "GB":
            tax[i] = f"GB {s[:3]} {s[3:7]} {s[7:]}" if dash[i] else "GB" + s
        elif c == "FR":
            tax[i] = f"{s[:3]} {s[3:6]} {s[6:]}" if dash[i] else s
        elif c == "DE":
            tax[i] = "DE" + s
        else:
            tax[i] = s + "RT0001"
    individual = pop.business_type == 0
    provided = np.where(individual, 0.35, 0.93) * np.where(risky, 0.7, 1.0)
    tax[rng.random(n) >= provided] = None
    return tax


def _verification(rng, pop, risky):
    n = pop.n
    good_p = [0.88, 0.06, 0.045, 0.015]
    risky_p = [0.55, 0.14, 0.16, 0.15]
    status = np.where(risky, rng.choice(4, n, p=risky_p), rng.choice(4, n, p=good_p))
    lam = np.select([status == 0, status == 3], [0.1, 1.8], default=0.7)
    failures = rng.poisson(lam * np.where(risky, 1.8, 1.0)).astype(np.int32)
    return S.take(VERIFICATION_STATUSES, status), pa.array(failures, pa.int32())


def _social(rng, pop, stem, risky):
    n = pop.n
    lam = np.where(pop.business_type == 0, 0.9, 1.6) * np.where(risky, 0.35, 1.0)
    count = np.minimum(rng.poisson(lam), 4)
    offsets = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    owner = np.repeat(np.arange(n), count)
    handle = S.slug(stem.take(pa.array(owner)))
    site = S.pick(rng, vocab.SOCIAL_SITES, len(owner))
    values = S.join(site, handle)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _licences(rng, pop, risky):
    n = pop.n
    needs = np.array([m[3] for m in vocab.MCCS])[pop.mcc]
    p = np.where(needs, np.where(risky, 0.4, 0.88), 0.05)
    has = rng.random(n) < p
    number = S.join(S.tokens(rng, n, 2, b"ABCDEFGHKLMNPRSTUVWXYZ"), "-",
                    S.digits(rng.integers(0, 10**7, n), 7))
    return S.null_where(~has, number)


def _email_variant(email: str, rng: np.random.Generator) -> str:
    """Another spelling of the same mailbox (gmail dots, plus tags, case)."""
    local, _, domain = email.strip().partition("@")
    if "gmail" in domain and len(local) > 2:
        cut = int(rng.integers(1, len(local)))
        local = local[:cut] + "." + local[cut:]
    if rng.random() < 0.6:
        local += f"+{int(rng.integers(1, 99))}"
    if rng.random() < 0.3:
        local = local.capitalize()
    return f"{local}@{domain}"


def _share(rng, pop, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Copy identifiers between accounts: rings, repeat offenders, families and buildings."""
    n = pop.n
    repeat_source = np.full(n, -1, dtype=np.int64)
    # Good accounts that share by accident of life.
    good = np.flatnonzero(pop.typology == GOOD)
    for kind, share in (("address", 0.015), ("phone", 0.004), ("bank", 0.0025),
                        ("tax_id", 0.001)):
        dst = good[rng.random(len(good)) < share]
        src = rng.choice(good, len(dst))
        keys = ("address_line1", "city", "postal_code") if kind == "address" else (
            {"phone": "phone", "bank": "bank_fingerprint", "tax_id": "tax_id"}[kind],)
        for key in keys:
            cols[key][dst] = cols[key][src]
    # Rings: members copy from the ring's first member.
    for g in np.unique(pop.group[(pop.group >= 0) & (pop.typology == T["ring"])]):
        members = np.flatnonzero(pop.group == g)
        donor, rest = members[0], members[1:]
        for keys, p in ((("phone",), 0.45), (("bank_fingerprint",), 0.5),
                        (("address_line1", "city", "postal_code"), 0.45), (("tax_id",), 0.3)):
            takers = rest[rng.random(len(rest)) < p]
            for key in keys:
                cols[key][takers] = cols[key][donor]
        for m in rest[rng.random(len(rest)) < 0.35]:
            cols["email"][m] = _email_variant(cols["email"][donor], rng)
    # Repeat offenders reuse one identifier from an earlier fraud account.
    fraud = np.flatnonzero((pop.typology != GOOD) & (pop.typology != T["account_takeover"])
                           & (pop.group < 0))
    offenders = fraud[(rng.random(len(fraud)) < 0.15) & (fraud > 0)]
    for m in offenders:
        earlier = fraud[fraud < m]
        if len(earlier) == 0:
            continue
        src = earlier[rng.integers(0, len(earlier))]
        key = ("phone", "bank_fingerprint", "address_line1", "tax_id", "device")[
            rng.integers(0, 5)]
        repeat_source[m] = src
        if key == "device":
            continue  # devices are drawn in the network stage, which reads repeat_source
        cols[key][m] = cols[key][src]
        if key == "address_line1":
            cols["city"][m], cols["postal_code"][m] = cols["city"][src], cols["postal_code"][src]
    return repeat_source


def build_identities(rng: np.random.Generator, pop: Population) -> Identities:
    """Draw the onboarding application of every account."""
    n = pop.n
    risky = pop.risky
    first, last = _names(rng, pop)
    business_name, stem = _business_names(rng, pop, first, last)
    website, domain, has_site = _websites(rng, pop, stem, risky)
    city_idx = rng.integers(0, 12, n)
    email = _emails(rng, pop, first, last, domain, has_site, risky)
    phone = _phones(rng, pop, risky)
    line1, city, postal = _addresses(rng, pop, risky, city_idx)
    tax = _tax_ids(rng, pop, risky)
    bank = S.tokens(rng, n, 16)
    holder_mismatch = rng.random(n) < np.where(risky, 0.25, 0.02)
    other_first, other_last = _names(rng, pop)
    holder = S.where(pop.business_type == 0, S.join(first, " ", last), business_name)
    holder = S.where(holder_mismatch, S.join(other_first, " ", other_last), holder)
    holder = S.where(rng.random(n) < 0.3, pc.utf8_upper(holder), holder)
    age_years = np.where(risky, rng.uniform(19, 40, n), rng.uniform(22, 72, n))
    dob_days = (np.datetime64("2025-06-01") - (age_years * 365.25).astype("timedelta64[D]"))
    status, failures = _verification(rng, pop, risky)

    cols = {
        "email": np.asarray(email.to_numpy(zero_copy_only=False), dtype=object),
        "phone": phone,
        "address_line1": line1,
        "city": city,
        "postal_code": postal,
        "tax_id": tax,
        "bank_fingerprint": np.asarray(bank.to_numpy(zero_copy_only=False), dtype=object),
    }
    no_bank = rng.random(n) < 0.02
    cols["bank_fingerprint"][no_bank] = None
    repeat_source = _share(rng, pop, cols)

    columns: dict[str, pa.Array] = {
        "account_id": S.join("acct_", S.tokens(rng, n, 16)),
        "created_at": pa.array(pop.signup_t),  # converted to timestamps by the writer
        "country": S.take(vocab.COUNTRIES, pop.country),
        "business_type": S.take(BUSINESS_TYPES, pop.business_type),
        "mcc": S.take([m[0] for m in vocab.MCCS], pop.mcc),
        "business_name": business_name,
        "website": website,
        "email": _arr(cols["email"]),
        "phone": _arr(cols["phone"]),
        "address_line1": _arr(cols["address_line1"]),
        "city": _arr(cols["city"]),
        "postal_code": _arr(cols["postal_code"]),
        "tax_id": _arr(cols["tax_id"]),
        "bank_fingerprint": _arr(cols["bank_fingerprint"]),
        "bank_account_holder_name": S.null_where(no_bank, holder),
        "representative_first_name": first,
        "representative_last_name": last,
        "representative_dob": pa.array(dob_days.astype("datetime64[D]"), pa.date32()),
        "social_profiles": _social(rng, pop, stem, risky),
        "licence_number": _licences(rng, pop, risky),
        "verification_status": status,
        "verification_failures": failures,
    }
    return Identities(columns, repeat_source)
