"""Deterministic, realistic seed data: leads, plus the clients and contacts of converted ones."""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeVar

Record = dict[str, Any]
Dataset = dict[str, list[Record]]
T = TypeVar("T")
_Pools = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]  # (name, its letters) pairs

DEFAULT_START = datetime(2026, 7, 1, tzinfo=timezone.utc)
DEFAULT_SEED = 20260701
DEFAULT_COUNT = 34

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MINUTE, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
_SPAN_MS = 10 * 7 * _DAY  # leads arrive over the ten weeks before `start`
_POOL_SIZE = 400
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version and variant fields
_UUID_SET = (4 << 76) | (0x8000 << 48)

_STATUS_WEIGHTS = {"new": 30, "contacted": 24, "qualified": 14, "unqualified": 8, "converted": 14, "lost": 10}
_INTEREST_WEIGHTS = {"hot": 25, "warm": 45, "cold": 30}
_LEAD_TYPE_WEIGHTS = {"buyer": 60, "seller": 25, "both": 15}
_SOURCE_WEIGHTS = {"Website Form": 22, "Zillow": 18, "Realtor.com": 12, "Referral": 12, "Open House": 8,
                   "Facebook Ad": 8, "Google Ads": 7, "Sign Call": 5, "Past Client": 4, "Redfin": 4}
_SOURCES = (tuple(_SOURCE_WEIGHTS), tuple(accumulate(_SOURCE_WEIGHTS.values())))
_LEAD_TYPES = (tuple(_LEAD_TYPE_WEIGHTS), tuple(accumulate(_LEAD_TYPE_WEIGHTS.values())))
_SPOKEN_SOURCES = frozenset({"Open House", "Sign Call", "Referral"})  # rarely a written message
# status -> (lowest version, highest version, most days from created_at to the last change)
_HISTORY = {"new": (1, 1, 0), "contacted": (2, 3, 7), "qualified": (3, 5, 21),
            "unqualified": (2, 4, 14), "converted": (3, 6, 30), "lost": (2, 5, 30)}
_MARKETS = {  # area code -> cities it serves
    "661": ("Bakersfield", "Lancaster", "Palmdale", "Santa Clarita"), "559": ("Fresno", "Clovis", "Visalia"),
    "805": ("Ventura", "Oxnard", "Santa Barbara", "San Luis Obispo"), "818": ("Burbank", "Glendale", "Van Nuys"),
    "626": ("Pasadena", "Arcadia", "Monrovia"), "951": ("Riverside", "Temecula", "Corona"),
}
_AREA_CODES = tuple(_MARKETS)
_EMAIL_STYLES = ("{first}.{last}", "{first}{last}", "{initial}{last}", "{first}_{last}")
_DOMAINS = ("example.com", "example.org", "example.net")  # reserved: never a real inbox
_STREET_SUFFIXES = ("St", "Ave", "Dr", "Ln", "Ct", "Way", "Pl", "Blvd")
_BUDGETS = {"buyer": (150_000, 1_500_000), "seller": (250_000, 2_000_000), "both": (300_000, 1_800_000)}
_TIMELINES = {"buyer": ("0-3 months", "3-6 months", "6-12 months", "12+ months"),
              "seller": ("ASAP", "0-3 months", "3-6 months", "6-12 months"),
              "both": ("0-3 months", "3-6 months", "6-12 months")}
_MESSAGES = {
    "buyer": ("Is {address} still available? I'd like to see it this weekend.",
              "Looking for a {beds}-bedroom home in {city} with a yard, close to good schools.",
              "We're relocating to {city} for work. What's available around {budget}?",
              "Interested in {address}. Would the seller consider offers below asking?",
              "First-time buyer here. How does this work?"),
    "seller": ("Thinking about selling our {beds}-bedroom home in {city}. What could it list for?",
               "Could you do a market analysis for {address}?", "We're downsizing and want to list in a few months.",
               "Inherited a house on {street} and would like to sell it as-is."),
    "both": ("We need to sell our place on {street} and buy something bigger in {city}.",
             "Moving up from a condo: selling, then buying a {beds}-bedroom in {city}.",
             "Can our purchase be contingent on selling {address}?"),
}
_NOTES = {
    "new": ("Auto-reply sent; call back tomorrow morning.", "Asked for the {city} listings sheet."),
    "contacted": ("Left voicemail and emailed three listings.", "Spoke briefly; prefers text messages.",
                  "Sent the {city} market report; waiting on a reply."),
    "qualified": ("Pre-approval letter on file; wants {beds}+ beds in {city}.", "Met in person; timeline confirmed.",
                  "Motivated and responsive; tour booked."),
    "unqualified": ("Not pre-approved; renting for another year.", "Outside our service area.",
                    "Price expectations don't fit the {city} market right now."),
    "converted": ("Representation agreement signed.", "Converted after the second meeting."),
    "lost": ("Went with another agent.", "Stopped responding after three follow-ups.", "Decided to stay put for now."),
}


def generate_dataset(count: int, seed: int, *, start: datetime | None = None) -> Dataset:
    """`count` leads created at distinct instants before `start` (default 2026-07-01T00:00Z), newest first.

    Same arguments, same data. Emails are unique; each converted lead has its own client and contact.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    now = _to_ms(start or DEFAULT_START)
    offsets = sorted(rng.sample(range(1, _SPAN_MS + 1), count))  # distinct, so created_at is too
    statuses = _covering(rng, _STATUS_WEIGHTS, count)
    interests = _covering(rng, _INTEREST_WEIGHTS, count)
    builder = _Builder(rng, _name_pools(seed), now)
    for offset, status, interest in zip(offsets, statuses, interests):
        builder.add_lead(now - offset, status, interest)
    return {"leads": builder.leads, "contacts": builder.contacts, "clients": builder.clients}


def default_dataset() -> Dataset:
    """The mock's data set: 34 leads, the docs' example lead (Rachel Kim) the newest of them."""
    rachel_created = _to_ms(DEFAULT_START) - (_HOUR + 6 * _MINUTE + 54_118)  # 2026-06-30T22:53:05.882Z
    data = generate_dataset(DEFAULT_COUNT - 1, DEFAULT_SEED, start=_EPOCH + timedelta(milliseconds=rachel_created))
    data["leads"].insert(0, {
        "id": "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "name": "Rachel Kim", "email": "rachel.kim@example.com",
        "phone": "(661) 555-0198", "source": "Website Form", "status": "new", "lead_type": "buyer",
        "interest_level": "warm", "budget": 380000, "timeline": "3-6 months",
        "message": "Hi! We're looking for a 3-bedroom home in Bakersfield with a yard, close to good schools.",
        "notes": None, "last_contact_date": None, "next_follow_up": None, "converted_to_client_id": None,
        "version": 1, "created_at": _iso(rachel_created), "updated_at": _iso(rachel_created),
    })
    _add_returning_client(data["leads"])
    return data


def _add_returning_client(leads: list[Record]) -> None:
    """Give a later, unconverted lead the email (other letter case) of a converted one: convert reuses contacts."""
    converted = next(lead for lead in reversed(leads)  # an email like first.last shows the case change best
                     if lead["status"] == "converted" and re.search(r"[._].*@", lead["email"] or ""))
    returning = next(lead for lead in leads[1:]  # never Rachel, the docs' lead
                     if lead["status"] != "converted" and lead["created_at"] > converted["updated_at"])
    local, domain = converted["email"].split("@")
    returning.update(name=converted["name"], phone=converted["phone"], source="Past Client",
                     email=f"{local.title()}@{domain}")


class _Builder:
    """Turns random draws into consistent lead histories; draws use `random()` (choice/randint are slower)."""

    def __init__(self, rng: random.Random, pools: _Pools, now: int) -> None:
        self.rng, self.random, self.now = rng, rng.random, now
        self.first_names, self.last_names = pools
        self.emails: set[str] = set()
        self.leads: list[Record] = []
        self.contacts: list[Record] = []
        self.clients: list[Record] = []

    def add_lead(self, created: int, status: str, interest: str) -> None:
        pick, chance = self._pick, self.random
        (first, first_letters), (last, last_letters) = pick(self.first_names), pick(self.last_names)
        area = pick(_AREA_CODES)
        source, lead_type = self._weighted(_SOURCES), self._weighted(_LEAD_TYPES)
        email = None if chance() < 0.08 else self._email(first_letters, last_letters)
        phone = f"({area}) 555-01{self._between(0, 99):02d}" if email is None or chance() < 0.9 else None
        low, high = _BUDGETS[lead_type]
        budget: int | None = round(self.rng.triangular(low, high, low + (high - low) * 0.15) / 5000) * 5000
        if chance() < (0.3 if status == "new" else 0.1):
            budget = None
        message = None if chance() < (0.6 if source in _SPOKEN_SOURCES else 0.1) else pick(_MESSAGES[lead_type])
        notes = None if chance() < (0.8 if status == "new" else 0.15) else pick(_NOTES[status])
        words = self._words(area, budget) if "{" in f"{message}{notes}" else {}
        low_version, high_version, most_days = _HISTORY[status]
        if status == "new":  # untouched since creation; a follow-up may have been set on create
            updated, last_contact = created, None
            follow_up = self._appointment(created, self._between(1, 2)) if chance() < 0.4 else None
        else:
            updated = created + self._between(1, max(1, min(self.now - created, most_days * _DAY)))
            last_contact = self._between(created + (updated - created) // 2, updated)
            in_play = status in ("contacted", "qualified")
            follow_up = self._appointment(last_contact, self._between(1, 10)) if in_play else None
        lead = {
            "id": self._uuid(), "name": f"{first} {last}", "email": email, "phone": phone,
            "source": source, "status": status, "lead_type": lead_type, "interest_level": interest,
            "budget": budget, "timeline": pick(_TIMELINES[lead_type]) if chance() < 0.85 else None,
            "message": message and message.format_map(words), "notes": notes and notes.format_map(words),
            "last_contact_date": None if last_contact is None else _iso(last_contact),
            "next_follow_up": None if follow_up is None else _iso(follow_up),
            "converted_to_client_id": None, "version": self._between(low_version, high_version),
            "created_at": _iso(created), "updated_at": _iso(updated),
        }
        self.leads.append(lead)
        if status == "converted":
            self._convert(lead)

    def _convert(self, lead: Record) -> None:
        """What the convert operation leaves behind; conversion was the lead's last change."""
        contact = {"id": self._uuid(), "name": lead["name"], "email": lead["email"], "phone": lead["phone"],
                   "created_at": lead["updated_at"]}
        low, high = _price_range(lead["budget"])
        client = {"id": self._uuid(), "contact_id": contact["id"], "client_type": lead["lead_type"],
                  "status": "active", "price_range_min": low, "price_range_max": high, "created_at": lead["updated_at"]}
        lead["converted_to_client_id"] = client["id"]
        self.contacts.append(contact)
        self.clients.append(client)

    def _words(self, area: str, budget: int | None) -> dict[str, Any]:
        """Details for the message and notes templates, shared so both name the same city."""
        street = f"{self._pick(self.last_names)[0]} {self._pick(_STREET_SUFFIXES)}"
        return {"city": self._pick(_MARKETS[area]), "street": street, "beds": self._between(2, 5),
                "address": f"{self._between(100, 9899)} {street}", "budget": _money(budget or 500_000)}

    def _email(self, first: str, last: str) -> str:
        local = self._pick(_EMAIL_STYLES).format(first=first, last=last, initial=first[0])
        domain = self._pick(_DOMAINS)
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{self._between(2, 999 + len(self.emails))}@{domain}"  # widens: always ends
        self.emails.add(email)
        return email

    def _appointment(self, after: int, days: int) -> int:
        """A follow-up slot `days` later, on the hour or half hour, 9:00-16:30 Pacific (16:00-23:30 UTC)."""
        day = (after // _DAY + days) * _DAY
        return day + self._between(32, 47) * 30 * _MINUTE

    def _uuid(self) -> str:
        """Version 4 / RFC 4122 variant bits over seeded random bits, as `uuid.UUID(int=..., version=4)`."""
        bits = self.rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _pick(self, values: Sequence[T]) -> T:
        return values[int(self.random() * len(values))]

    def _between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def _weighted(self, table: tuple[tuple[str, ...], tuple[float, ...]]) -> str:
        values, cumulative = table
        return values[bisect(cumulative, self.random() * cumulative[-1])]


def _covering(rng: random.Random, weights: dict[str, int], count: int) -> list[str]:
    """`count` weighted picks that include every value at least once when count allows."""
    values = list(weights)
    picks = values[:count] + rng.choices(values, list(weights.values()), k=max(0, count - len(values)))
    rng.shuffle(picks)
    return picks


@lru_cache(maxsize=8)
def _name_pools(seed: int) -> _Pools:
    """First and last names drawn once from Faker (per-record Faker calls are too slow for big sets)."""
    from faker import Faker  # imported when data is generated: a mock serving a fixtures file never needs it

    fake = Faker("en_US")
    fake.seed_instance(seed)
    firsts = [fake.first_name() for _ in range(_POOL_SIZE)]
    lasts = [fake.last_name() for _ in range(_POOL_SIZE)]
    return tuple((n, _letters(n)) for n in firsts), tuple((n, _letters(n)) for n in lasts)


def _price_range(budget: int | None) -> tuple[int | None, int | None]:
    """The convert rule: budget -10% .. +10%, rounded half up to whole dollars; both None without budget."""
    if budget is None:
        return None, None
    low, high = ((Decimal(budget) * share / 100).quantize(Decimal(1), ROUND_HALF_UP) for share in (90, 110))
    return int(low), int(high)


def _money(dollars: int) -> str:
    return f"${dollars / 1_000_000:.2f}M" if dollars >= 1_000_000 else f"${dollars // 1000}k"


def _letters(name: str) -> str:  # email-safe form of a name
    return re.sub(r"[^a-z]", "", name.lower()) or "lead"


def _to_ms(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # naive means UTC
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso(ms: int) -> str:
    """UTC with milliseconds and Z, the API's date-time format (hand-rolled: strftime per value is slow)."""
    hour, rest = divmod(ms, _HOUR)
    seconds, millis = divmod(rest, 1000)
    return f"{_hour_prefix(hour)}:{seconds // 60:02d}:{seconds % 60:02d}.{millis:03d}Z"


@lru_cache(maxsize=1 << 14)
def _hour_prefix(hour: int) -> str:
    return f"{_EPOCH + timedelta(hours=hour):%Y-%m-%dT%H}"
