"""Generate data/customers.jsonl and data/events.jsonl for every example project.

Deterministic: each project has its own fixed-seed random generator, so running this again
produces byte-identical files. Run from anywhere:

    python examples/make_data.py            # all projects
    python examples/make_data.py cart_recovery

The history covers March 2026 (UTC timestamps, sorted by time). Customers live in a dozen time
zones; some have no phone and some have not opted in, so consent rules have something to do.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 29, tzinfo=UTC)
CUTOFF = datetime(2026, 4, 1, tzinfo=UTC)  # follow-up events after this are dropped

FIRST_NAMES = [
    "Ana", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gabriel", "Hiro", "Ines", "Jamal",
    "Katja", "Liam", "Mei", "Nikhil", "Olivia", "Pedro", "Qi", "Rania", "Sven", "Tanvi",
    "Uri", "Valentina", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Diego",
    "Emre", "Freya", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lucia", "Marek", "Noor",
]
# (zone, phone prefix, national digits)
ZONES = [
    ("America/New_York", "+1212555", 4), ("America/New_York", "+1646555", 4),
    ("America/Chicago", "+1312555", 4), ("America/Denver", "+1303555", 4),
    ("America/Los_Angeles", "+1415555", 4), ("Europe/London", "+4477009", 6),
    ("Europe/London", "+4477009", 6), ("Europe/Berlin", "+4915110", 6),
    ("Europe/Paris", "+3361234", 5), ("Asia/Tokyo", "+8190123", 5),
    ("Australia/Sydney", "+6141234", 5), ("America/Sao_Paulo", "+5511912", 6),
    ("Asia/Kolkata", "+9198765", 5),
]
COUNTRY = {"America/New_York": "US", "America/Chicago": "US", "America/Denver": "US",
           "America/Los_Angeles": "US", "Europe/London": "GB", "Europe/Berlin": "DE",
           "Europe/Paris": "FR", "Asia/Tokyo": "JP", "Australia/Sydney": "AU",
           "America/Sao_Paulo": "BR", "Asia/Kolkata": "IN"}


def ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment(rng: Random, start: datetime = START, end: datetime = END) -> datetime:
    """A random minute between start and end."""
    span = int((end - start).total_seconds() // 60)
    return start + timedelta(minutes=rng.randrange(span))


Row = dict[str, Any]


def base_customers(rng: Random, project: str, n: int) -> list[Row]:
    customers = []
    names = rng.sample(FIRST_NAMES, n) if n <= len(FIRST_NAMES) else [
        rng.choice(FIRST_NAMES) for _ in range(n)]
    for i in range(n):
        zone, prefix, digits = ZONES[rng.randrange(len(ZONES))]
        name = names[i]
        c: Row = {
            "id": f"c{i + 1:03d}",
            "email": f"{name.lower()}.{i + 1}@example.com",
            "timezone": zone,
            "first_name": name,
        }
        if rng.random() < 0.85:
            c["phone"] = prefix + "".join(str(rng.randrange(10)) for _ in range(digits))
        customers.append(c)
    return customers


Event = tuple[datetime, str, str, Row]  # (when, customer_id, event, properties)


# --------------------------------------------------------------------------- per project

def cart_recovery(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "cart_recovery", 40)
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        c["sms_opt_in"] = "phone" in c and rng.random() < 0.5
        c["loyalty_tier"] = rng.choices(["none", "silver", "gold"], [6, 3, 1])[0]
        for _ in range(rng.randrange(0, 4)):
            when = moment(rng)
            value = round(rng.uniform(15, 320), 2)
            events.append((when, c["id"], "order_completed",
                           {"order_id": f"o-{rng.randrange(10000, 99999)}", "order_value": value}))
        for _ in range(rng.randrange(0, 6)):
            events.append((moment(rng), c["id"], "product_viewed",
                           {"product_id": f"p-{rng.randrange(100, 999)}",
                            "category": rng.choice(["shoes", "bags", "outerwear", "home"])}))
        for _ in range(rng.randrange(0, 3)):
            when = moment(rng)
            items = rng.randrange(1, 6)
            events.append((when, c["id"], "cart_abandoned", {
                "cart_value": round(items * rng.uniform(9, 80), 2),
                "cart_url": f"https://shop.example/c/{rng.randrange(16**6):06x}",
                "item_count": items}))
            if rng.random() < 0.3:  # some come back and buy
                events.append((when + timedelta(hours=rng.randrange(2, 60)), c["id"],
                               "order_completed",
                               {"order_id": f"o-{rng.randrange(10000, 99999)}",
                                "order_value": round(items * rng.uniform(9, 80), 2)}))
        if any(e[2] == "order_completed" and e[1] == c["id"] for e in events):
            c["last_order_at"] = ts(max(e[0] for e in events
                                        if e[1] == c["id"] and e[2] == "order_completed"))
    return customers, events


def invoice_reminders(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "invoice_reminders", 30)
    companies = ["Acme Tools", "Brit Freight", "Costa Foods", "Delta Print", "Elm Clinics",
                 "Fjord Media", "Gala Events", "Helix Labs", "Iris Optics", "Juno Legal"]
    events: list[Event] = []
    for i, c in enumerate(customers):
        c["company"] = f"{companies[i % len(companies)]} {i // len(companies) + 1}"
        c["email"] = f"billing{i + 1}@{c['company'].split()[0].lower()}.example"
        c["email_opt_in"] = rng.random() < 0.9
        c["account_manager"] = rng.choice(["Jordan", "Sam", "Alex", "Robin"])
        c["payment_terms"] = rng.choice(["net15", "net30", "net60"])
        c["has_payment_plan"] = rng.random() < 0.1
        for _ in range(rng.randrange(0, 3)):
            # The billing system emits these every morning at 06:00 UTC.
            when = moment(rng).replace(hour=6, minute=0)
            invoice = f"INV-{rng.randrange(1000, 9999)}"
            amount = round(rng.choice([rng.uniform(20, 400), rng.uniform(400, 6000)]), 2)
            overdue = rng.randrange(1, 20)
            events.append((when, c["id"], "invoice_overdue", {
                "invoice_id": invoice, "amount": amount,
                "due_date": ts(when - timedelta(days=overdue)), "days_overdue": overdue,
                "pay_url": f"https://pay.example/{invoice}"}))
            r = rng.random()
            if r < 0.5:
                events.append((when + timedelta(days=rng.randrange(1, 12), hours=rng.randrange(8)),
                               c["id"], "invoice_paid", {"invoice_id": invoice, "amount": amount}))
            elif r < 0.6:
                later = when + timedelta(days=rng.randrange(8, 15))
                events.append((later, c["id"], "payment_plan_agreed", {
                    "invoice_id": invoice, "instalments": rng.choice([2, 3, 6]),
                    "first_payment_at": ts(later + timedelta(days=10))}))
    return customers, events


def buyer_tiers(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "buyer_tiers", 50)
    events: list[Event] = []
    history_start = START - timedelta(days=150)
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        c["favourite_category"] = rng.choice(["coffee", "tea", "equipment"])
        c["country"] = COUNTRY[c["timezone"]]
        kind = rng.choices(["frequent", "occasional", "lapsing", "browser"], [2, 4, 2, 2])[0]
        if kind == "frequent":
            recent = START - timedelta(days=40)
            orders = [moment(rng, recent, END) for _ in range(rng.randrange(3, 8))]
        elif kind == "occasional":
            orders = [moment(rng, history_start, END) for _ in range(rng.randrange(1, 3))]
        elif kind == "lapsing":
            orders = [moment(rng, history_start, START - timedelta(days=50))]
        else:
            orders = []
        for when in orders:
            cat = c["favourite_category"] if rng.random() < 0.7 else rng.choice(
                ["coffee", "tea", "equipment"])
            items = rng.randrange(1, 5)
            events.append((when, c["id"], "order_completed", {
                "order_id": f"o-{rng.randrange(10000, 99999)}",
                "order_value": round(items * rng.uniform(12, 45)
                                     + (90 if cat == "equipment" else 0), 2),
                "category": cat, "item_count": items}))
        for _ in range(rng.randrange(0, 9 if kind == "browser" else 4)):
            events.append((moment(rng), c["id"], "product_viewed", {
                "product_id": f"p-{rng.randrange(100, 999)}",
                "category": rng.choice(["coffee", "tea", "equipment"])}))
    return customers, events


def laer_subscription(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "laer_subscription", 30)
    companies = ["Northwind", "Orbit", "Pinecrest", "Quarry", "Redwood", "Summit", "Tidal",
                 "Umbra", "Vantage", "Willow"]
    features = ["calendar_sync", "shift_swap", "reports", "templates", "time_off", "mobile_app"]
    events: list[Event] = []
    for i, c in enumerate(customers):
        c["company"] = f"{companies[i % len(companies)]} {'Group' if i >= 10 else 'Inc'}"
        c["email_opt_in"] = rng.random() < 0.9
        plan = rng.choices(["starter", "growth", "enterprise"], [5, 4, 1])[0]
        seats = {"starter": rng.randrange(3, 10), "growth": rng.randrange(10, 50),
                 "enterprise": rng.randrange(50, 400)}[plan]
        new = rng.random() < 0.3
        if new:  # subscribes during March: the onboarding playbook sees them
            when = moment(rng)
            renewal = when + timedelta(days=365)
            events.append((when, c["id"], "subscription_started",
                           {"plan": plan, "seats": seats, "renewal_date": ts(renewal)}))
            usage_from = when
        else:
            subscribed = START - timedelta(days=rng.randrange(30, 340))
            renewal = subscribed + timedelta(days=365)
            c.update(plan=plan, seats=seats, subscribed_at=ts(subscribed),
                     renewal_date=ts(renewal), seats_used=min(seats, rng.randrange(1, seats + 3)))
            usage_from = START
        if plan == "enterprise":
            c["csm_name"] = rng.choice(["Lee", "Morgan", "Kai"])
        for _ in range(rng.randrange(0, 25)):
            events.append((moment(rng, usage_from), c["id"], "feature_used",
                           {"feature": rng.choice(features)}))
        if not new and rng.random() < 0.1:
            events.append((moment(rng), c["id"], "seats_added",
                           {"seats": seats + rng.randrange(1, 10)}))
        if not new and rng.random() < 0.05:
            events.append((moment(rng), c["id"], "subscription_cancelled",
                           {"reason": rng.choice(["price", "switched", "team_disbanded"])}))
    return customers, events


def nps_after_purchase(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "nps_after_purchase", 40)
    products = ["Oak dining table", "Linen sofa", "Wool rug", "Desk lamp", "Bed frame",
                "Bookshelf", "Armchair", "Side table"]
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.8
        c["sms_opt_in"] = "phone" in c and rng.random() < 0.6
        c["referral_code"] = f"{c['first_name'].upper()}{rng.randrange(10, 99)}"
        if rng.random() < 0.15:
            c["last_nps"] = rng.randrange(0, 11)
            c["last_nps_at"] = ts(START - timedelta(days=rng.randrange(10, 200)))
        for _ in range(rng.randrange(0, 3)):
            delivered = moment(rng, START, END - timedelta(days=4))
            product = rng.choice(products)
            events.append((delivered, c["id"], "order_delivered", {
                "order_id": f"o-{rng.randrange(10000, 99999)}", "product_name": product,
                "order_value": round(rng.uniform(60, 2400), 2)}))
            if c["sms_opt_in"] and rng.random() < 0.6:
                score = rng.choices(range(11), [1, 1, 1, 1, 1, 2, 2, 4, 6, 8, 7])[0]
                body = rng.choice([f"{score}", f"{score}!", f"{score} - thanks",
                                   f"I'd say {score}"])
                events.append((delivered + timedelta(days=2, hours=rng.randrange(0, 30)),
                               c["id"], "sms_reply", {"body": body, "number": score}))
                if score >= 9 and rng.random() < 0.4:
                    events.append((delivered + timedelta(days=rng.randrange(3, 12)), c["id"],
                                   "referral_signup",
                                   {"referred_email": f"friend{rng.randrange(1000)}@example.com"}))
    return customers, events


def touch_tiers(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "touch_tiers", 45)
    events: list[Event] = []
    for i, c in enumerate(customers):
        tier = rng.choices(["high", "low", "none"], [1, 2, 3])[0]
        brand = rng.choice(["Vertex", "Wexford", "Xylo", "Yarrow", "Zephyr", "Apex", "Beacon"])
        c["company"] = f"{brand} {i + 1}"
        c["email_opt_in"] = rng.random() < 0.9
        if tier == "high":
            c["plan"] = rng.choice(["business", "enterprise"])
            c["arr"] = rng.randrange(50000, 400000, 1000)
            c["account_owner"] = rng.choice(["Jo Kim", "Ravi Shah", "Ines Duarte"])
        elif tier == "low":
            c["plan"] = rng.choice(["team", "business"])
            c["arr"] = rng.randrange(5000, 49000, 500)
        else:
            c["plan"] = rng.choice(["free", "team"])
            c["arr"] = 0 if c["plan"] == "free" else rng.randrange(300, 4800, 100)
        c["health_score"] = rng.randrange(10, 100)
        users = rng.randrange(2, 600 if tier == "high" else 60)
        for week in range(4):
            if rng.random() < 0.25:
                when = START + timedelta(days=7 * week + 1, hours=rng.randrange(6, 10))  # Mondays
                prev = users
                users = max(1, int(users * rng.uniform(0.3, 0.7)))
                events.append((when, c["id"], "usage_dropped",
                               {"active_users": users, "previous_active_users": prev}))
                if tier != "none" and rng.random() < 0.4:
                    booked = when + timedelta(days=rng.randrange(1, 5), hours=rng.randrange(8))
                    events.append((booked, c["id"], "meeting_booked", {
                        "booked_with": c.get("account_owner", "CS pool"),
                        "meeting_at": ts(booked + timedelta(days=2))}))
        for _ in range(rng.randrange(0, 12)):
            events.append((moment(rng), c["id"], "dashboard_viewed",
                           {"dashboard": rng.choice(["signups", "revenue", "retention",
                                                     "funnel"])}))
    return customers, events


def mckinsey_cdj(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "mckinsey_cdj", 40)
    models = {"city": [("Velora City 2", 1900), ("Velora City 3", 2600)],
              "trail": [("Velora Trail X", 3400), ("Velora Trail Pro", 4800)],
              "cargo": [("Velora Cargo S", 3900), ("Velora Cargo L", 5200)]}
    stores = ["Velora London Shoreditch", "Velora Berlin Mitte", "Velora Paris Marais",
              "Velora Brooklyn"]
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        c["sms_opt_in"] = "phone" in c and rng.random() < 0.5
        cat = rng.choice(list(models))
        c["preferred_category"] = cat
        c["loyalty_member"] = rng.random() < 0.15
        when = moment(rng, START, START + timedelta(days=14))
        events.append((when, c["id"], "signed_up",
                       {"source": rng.choice(["instagram", "search", "store", "referral"])}))
        stage = rng.random()
        for _ in range(rng.randrange(1, 6)):
            model, price = rng.choice(models[cat])
            when += timedelta(hours=rng.randrange(2, 40))
            events.append((when, c["id"], "product_viewed",
                           {"model": model, "category": cat, "price": price}))
        if stage > 0.3:
            when += timedelta(hours=rng.randrange(2, 48))
            events.append((when, c["id"], "bikes_compared", {
                "models": ", ".join(m for m, _ in models[cat]), "category": cat}))
        if stage > 0.5:
            booked = when + timedelta(hours=rng.randrange(1, 24))
            events.append((booked, c["id"], "test_ride_booked", {
                "store": rng.choice(stores),
                "ride_at": ts((booked + timedelta(days=rng.randrange(2, 6))).replace(
                    hour=rng.randrange(9, 16), minute=0))}))
            when = booked + timedelta(days=6)
        if stage > 0.65:
            model, price = rng.choice(models[cat])
            oid = f"v-{rng.randrange(100, 999)}"
            events.append((when, c["id"], "order_completed",
                           {"order_id": oid, "model": model, "order_value": price}))
            delivered = when + timedelta(days=rng.randrange(2, 6))
            if delivered < END:
                events.append((delivered, c["id"], "bike_delivered",
                               {"order_id": oid, "model": model}))
    return customers, events


def aidae(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "aidae", 45)
    events: list[Event] = []
    coffees = ["Kenya Kiambu", "Colombia Huila", "Ethiopia Guji", "Brazil Cerrado"]
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        c["subscriber"] = False
        when = moment(rng, START, END - timedelta(days=7))
        events.append((when, c["id"], "lead_captured", {
            "source": rng.choice(["instagram", "podcast", "search", "friend"]),
            "campaign": rng.choice(["spring-reels", "brew-talk-s3", "brand", "refer-a-friend"])}))
        for _ in range(rng.randrange(0, 4)):
            events.append((when + timedelta(hours=rng.randrange(1, 200)), c["id"],
                           "email_clicked", {"link": rng.choice(["quiz", "farms", "offer"])}))
        if rng.random() < 0.4:
            events.append((when + timedelta(hours=rng.randrange(1, 100)), c["id"],
                           "quiz_completed", {
                               "roast": rng.choice(["light", "medium", "dark"]),
                               "brew": rng.choice(["espresso", "filter", "french_press", "moka"])}))
        if rng.random() < 0.3:
            sub = when + timedelta(days=rng.randrange(2, 8))
            events.append((sub, c["id"], "subscription_started", {
                "plan": rng.choice(["monthly", "quarterly"]),
                "bags_per_month": rng.choice([1, 2, 3])}))
            box = sub + timedelta(days=rng.randrange(2, 5))
            if box < END:
                events.append((box, c["id"], "box_delivered",
                               {"box_number": 1, "coffee_name": rng.choice(coffees)}))
                if rng.random() < 0.6:
                    rating = rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 4])[0]
                    events.append((box + timedelta(days=rng.randrange(3, 7)), c["id"],
                                   "feedback_submitted", {
                                       "rating": rating,
                                       "comment": rng.choice(["lovely", "a bit sour", "too dark",
                                                              "perfect for my moka", ""])}))
    return customers, events


def ab_split(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "ab_split", 60)
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.9
        if rng.random() < 0.15:
            c["plan"] = rng.choice(["pro", "team"])
            continue
        c["plan"] = "free"
        start = moment(rng, START, END - timedelta(days=10))
        events.append((start, c["id"], "trial_started",
                       {"source": rng.choice(["web", "app-store", "play-store", "referral"])}))
        for _ in range(rng.randrange(0, 10)):
            events.append((start + timedelta(hours=rng.randrange(1, 300)), c["id"],
                           "note_created", {"words": rng.randrange(5, 1500)}))
        if rng.random() < 0.25:
            events.append((start + timedelta(days=rng.randrange(1, 14), hours=rng.randrange(24)),
                           c["id"], "subscription_started", {
                               "plan": rng.choice(["pro", "pro", "team"]),
                               "billing": rng.choice(["monthly", "yearly"])}))
    return customers, events


def review_request(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "review_request", 36)
    events: list[Event] = []
    products = ["kettle", "toaster", "lamp", "mug set", "throw blanket", "vase"]
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        c["sms_opt_in"] = "phone" in c and rng.random() < 0.5
        for _ in range(rng.randrange(1, 3)):
            delivered = moment(rng, START, END - timedelta(days=3))
            order = f"o-{rng.randrange(10000, 99999)}"
            events.append((delivered, c["id"], "order_delivered",
                           {"order_id": order, "product_name": rng.choice(products)}))
            if rng.random() < 0.2:  # some review before we ask
                events.append((delivered + timedelta(hours=rng.randrange(2, 60)), c["id"],
                               "review_submitted",
                               {"order_id": order, "rating": rng.randrange(1, 6)}))
            elif rng.random() < 0.5:  # others open the ask; a few review after it
                asked = delivered + timedelta(days=3, hours=rng.randrange(0, 40))
                events.append((asked, c["id"], "email_opened", {"template": "review-ask"}))
                if rng.random() < 0.4:
                    events.append((asked + timedelta(minutes=rng.randrange(1, 90)), c["id"],
                                   "review_submitted",
                                   {"order_id": order, "rating": rng.randrange(3, 6)}))
    return customers, events


def fitness_coach(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "fitness_coach", 30)
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.9
        joined = moment(rng, START, START + timedelta(days=14))
        events.append((joined, c["id"], "membership_started",
                       {"plan": rng.choice(["monthly", "monthly", "yearly"])}))
        if rng.random() < 0.6:
            events.append((joined + timedelta(hours=rng.randrange(1, 60)), c["id"], "goal_set",
                           {"workouts_per_week": rng.choice([2, 3, 3, 4])}))
        keen = rng.random()  # how often this member trains
        day = joined + timedelta(days=1)
        while day < CUTOFF:
            if rng.random() < keen * 0.7:
                events.append((day + timedelta(minutes=rng.randrange(0, 600)), c["id"],
                               "workout_logged", {"minutes": rng.choice([20, 30, 45, 60])}))
            day += timedelta(days=1)
        if rng.random() < 0.15:
            events.append((moment(rng, joined + timedelta(days=7), END), c["id"],
                           "membership_cancelled",
                           {"reason": rng.choice(["price", "moving", "injury"])}))
    return customers, events


def birthday_club(rng: Random) -> tuple[list[Row], list[Event]]:
    customers = base_customers(rng, "birthday_club", 40)
    events: list[Event] = []
    for c in customers:
        c["email_opt_in"] = rng.random() < 0.85
        # Midnight, in the customer's own zone, of a birthday in March or early April.
        day = START.date() + timedelta(days=rng.randrange(1, 40))
        local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(c["timezone"]))
        c["next_birthday"] = ts(local)
        if rng.random() < 0.3:  # a birthday purchase
            events.append((local + timedelta(hours=rng.randrange(10, 150)), c["id"],
                           "order_completed", {"order_id": f"o-{rng.randrange(10000, 99999)}",
                                               "order_value": round(rng.uniform(15, 120), 2)}))
    return customers, events


PROJECTS: dict[str, Callable[[Random], tuple[list[Row], list[Event]]]] = {
    "cart_recovery": cart_recovery,
    "invoice_reminders": invoice_reminders,
    "buyer_tiers": buyer_tiers,
    "laer_subscription": laer_subscription,
    "nps_after_purchase": nps_after_purchase,
    "touch_tiers": touch_tiers,
    "mckinsey_cdj": mckinsey_cdj,
    "aidae": aidae,
    "ab_split": ab_split,
    "review_request": review_request,
    "fitness_coach": fitness_coach,
    "birthday_club": birthday_club,
}


def write(project: str) -> None:
    rng = Random(zlib.crc32(project.encode()))  # fixed seed per project
    customers, events = PROJECTS[project](rng)
    known = {c["id"] for c in customers}
    events = sorted((e for e in events if e[1] in known and e[0] < CUTOFF),
                    key=lambda e: (e[0], e[1], e[2]))
    data = HERE / project / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "customers.jsonl", "w", encoding="utf-8") as f:
        for c in customers:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    with open(data / "events.jsonl", "w", encoding="utf-8") as f:
        for when, cid, name, props in events:
            f.write(json.dumps({"customer_id": cid, "event": name, "timestamp": ts(when),
                                "properties": props}, ensure_ascii=False) + "\n")
    print(f"{project}: {len(customers)} customers, {len(events)} events")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(PROJECTS):
        write(name)
