"""A held-out corpus written from the record contract alone (it imports nothing from sensory).

Deterministic (fixed seed). Each line carries whether it is valid and the PII values planted in
it, so a test can account for every line and look for every planted value in the outputs.
"""
import json
import random
from typing import NamedTuple

SEED = 20251220
BN = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


class Line(NamedTuple):
    raw: bytes
    valid: bool
    pii: tuple  # strings that must not appear in any output, log included


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


class _Pii:
    """Makes PII values in every written form the contract lists."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def phone(self):
        n = f"1{self.rng.choice('3456789')}{self.rng.randrange(10**8):08d}"
        form = self.rng.choice([f"+880{n}", f"880{n}", f"0{n}", f"+880 {n[:4]}-{n[4:]}",
                                f"0{n[:4]}-{n[4:]}", f"+88 0{n}", f"0{n}".translate(BN)])
        return form, (form, n)

    def email(self):
        user = self.rng.choice(["rahim", "nusrat.j", "k_hossain", "Shop.Owner"])
        value = f"{user}{self.rng.randrange(1000)}@{self.rng.choice(['gmail.com', 'yahoo.com', 'daraz.com.bd'])}"
        return value, (value, value.lower())

    def card(self):
        body = self.rng.choice("4555") + "".join(self.rng.choice("0123456789") for _ in range(14))
        digits = body + _luhn_digit(body)
        sep = self.rng.choice(["", " ", "-"])
        written = sep.join(digits[i:i + 4] for i in range(0, 16, 4)) if sep else digits
        return written, (written, digits)

    def nid(self):
        length = self.rng.choice([10, 13, 17])
        value = str(self.rng.randrange(1, 10)) + "".join(
            self.rng.choice("0123456789") for _ in range(length - 1))
        return value, (value,)

    def any(self):
        return getattr(self, self.rng.choice(["phone", "email", "card", "nid"]))()

    def name(self):
        first = self.rng.choice(["Rahim", "Karim", "Nusrat", "Farhana", "Tanvir", "Sadia"])
        value = f"{first} Uddinova{self.rng.randrange(100, 999)}"
        return value, (value,)


_CITIES = ["Dhaka", "Chittagong", "Sylhet", "Khulna", "Rajshahi", "Barisal", "Rangpur",
           "Mymensingh", "Comilla"]
_TEXT = ["নতুন স্টক এসেছে! Samsung Galaxy A15", "Eid sale on jamdani saree",
         "Best earbuds under 2000 taka", "Laptop for students, HP Pavilion", "Rice cooker deal"]


def _time(rng, naive_ok=True):
    day, hour = rng.randrange(1, 28), rng.randrange(24)
    suffix = rng.choice(["Z", "+06:00", ""] if naive_ok else ["Z"])
    return f"2025-11-{day:02d}T{hour:02d}:{rng.randrange(60):02d}:00{suffix}"


def _post(rng, pii, i):
    planted = []
    author, author_pii = pii.name() if rng.random() < 0.5 else (f"user{i}_{rng.randrange(99)}", ())
    planted += author_pii
    text = rng.choice(_TEXT)
    for _ in range(rng.choice([0, 1, 1, 2])):
        value, forms = pii.any()
        text += f" যোগাযোগ: {value} ।"
        planted += forms
    rec = {"platform": rng.choice(["tiktok", "facebook"]), "post_id": f"HO-P-{i:05d}",
           rng.choice(["author", "author_username"]): author, "content": f"  {text}  ",
           "engagement_count": rng.choice([rng.randrange(5000), str(rng.randrange(50))]),
           rng.choice(["posted_at", "timestamp"]): _time(rng),
           "hashtags": rng.choice([[], ["#deal", "#dhaka"]]), "unknown_extra": {"x": 1}}
    if rng.random() < 0.5:
        rec["location"] = rng.choice(_CITIES)
    if rng.random() < 0.3:
        rec["likes_count"] = rng.randrange(100)
    return rec, planted


def _order(rng, pii, i):
    planted = []
    phone, phone_forms = pii.phone()
    email, email_forms = pii.email()
    name, name_forms = pii.name()
    planted += phone_forms + email_forms + name_forms
    qty, price = rng.randrange(1, 5), round(rng.uniform(100, 90000), 2)
    product = rng.choice(["Redmi Note 13", "Cotton Panjabi", "Power bank 20000mAh"])
    if rng.random() < 0.2:
        value, forms = pii.any()
        product += f" (call {value})"
        planted += forms
    rec = {"platform": rng.choice(["shopify", "daraz"]), "order_id": f"HO-O-{i:05d}",
           "merchant_id": f"M{rng.randrange(50)}", "product_id": f"SKU-{rng.randrange(500)}",
           "product_name": product, "quantity": rng.choice([qty, str(qty)]),
           rng.choice(["unit_price", "price"]): price, "order_status": "confirmed",
           "customer_phone": phone, "customer_email": email, "customer_name": name,
           rng.choice(["created_at", "timestamp"]): _time(rng)}
    if rng.random() < 0.5:
        rec["total_price"] = round(qty * price + rng.uniform(-0.009, 0.009), 3)
    if rng.random() < 0.6:
        rec["shipping_city"] = rng.choice(_CITIES)
    return rec, planted


def _break(rng, pii, rec, kind):
    """Turns a valid record into an invalid line; returns (raw bytes, extra planted PII)."""
    value, forms = pii.any()
    choice = rng.randrange(12)
    if choice == 0:
        return f"not json at all, call {value}".encode(), forms
    if choice == 1:
        return json.dumps(rec, ensure_ascii=False)[:-7].encode(), ()
    if choice == 2:
        return b"\xff\xfe garbage " + value.encode(), forms
    if choice == 3:
        return rng.choice([b"[1, 2, 3]", b"42", b'"just a string"', b"null"]), ()
    if choice == 4:
        return rng.choice([b"", b"   ", b"\t"]), ()
    bad = dict(rec)
    if kind == "social":
        mutation = rng.choice([("engagement_count", "lots"), ("engagement_count", -3),
                               ("content", "  hi "), ("platform", "instagram"),
                               ("posted_at", "yesterday"), ("likes_count", -1)])
        for alias in ("posted_at", "timestamp"):
            if mutation[0] == "posted_at":
                bad.pop(alias, None)
        if choice == 5:
            bad.pop("post_id")
            return json.dumps(bad, ensure_ascii=False).encode(), ()
    else:
        mutation = rng.choice([("quantity", 0), ("currency", "bdt"), ("platform", "amazon"),
                               ("total_price", 1.0), ("order_status", ""),
                               ("created_at", "31/12/2025")])
        if mutation[0] == "created_at":
            bad.pop("timestamp", None)
        if choice == 5:
            bad.pop("order_id")
            return json.dumps(bad, ensure_ascii=False).encode(), ()
    bad[mutation[0]] = mutation[1]
    return json.dumps(bad, ensure_ascii=False).encode(), ()


def corpus(kind: str, count: int = 300, seed: int = SEED) -> list[Line]:
    """``count`` lines of ``kind`` ("social" or "market"), about a fifth invalid."""
    rng = random.Random(f"{seed}-{kind}")
    pii = _Pii(rng)
    make = _post if kind == "social" else _order
    lines = []
    for i in range(count):
        rec, planted = make(rng, pii, i)
        if rng.random() < 0.2:
            raw, extra = _break(rng, pii, rec, kind)
            lines.append(Line(raw, False, tuple(planted) + tuple(extra)))
        else:
            raw = json.dumps(rec, ensure_ascii=False, indent=rng.choice([None, None, 1]))
            lines.append(Line(raw.replace("\n", " ").encode(), True, tuple(planted)))
    return lines
