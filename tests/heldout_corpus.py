"""A held-out corpus for issue #2's acceptance check, written from the record contract alone.

Nothing here imports the project (no models, no PII regexes): the corpus is what an adversarial
tester writes from ``docs/records.md``, so it cannot share a blind spot with the code under test.
It is deterministic (fixed seed). Each line carries whether it is valid, the reason it is not
(and which field the dead letter should name), what a valid line should become, and every PII
value planted in it, so a test can account for every line and look for every value in the
outputs and the logs.
"""
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

SEED = 20251220
LINES_PER_PIPELINE = 300
INVALID_SHARE = 0.2
SOCIAL, MARKET = "social", "market"
VALID = "valid"

BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")

# The five written forms of one Bangladeshi mobile number that the contract lists, as
# functions of the 10-digit national number without its leading 0 ("1712345678").
PHONE_FORMS: dict[str, Callable[[str], str]] = {
    "+880": lambda n: f"+880{n}",
    "880": lambda n: f"880{n}",
    "0": lambda n: f"0{n}",
    "+880 spaced": lambda n: f"+880 {n[:4]}-{n[4:]}",
    "0 dashed": lambda n: f"0{n[:4]}-{n[4:]}",
}
# Free text may also write a number in Bengali digits (common in Bangladeshi posts).
TEXT_PHONE_FORMS = {**PHONE_FORMS, "bengali digits": lambda n: f"0{n}".translate(BENGALI_DIGITS)}
CARD_STYLES = ("visa plain", "visa spaces", "visa dashes", "mastercard spaces", "amex spaces")
NID_FORMS = ("10", "13", "17", "17 bengali digits")
# Every kind of PII that free text may carry, cycled so each one is planted many times.
FREE_TEXT_PII = ([("phone", form) for form in TEXT_PHONE_FORMS] + [("email", "plain")]
                 + [("card", style) for style in CARD_STYLES]
                 + [("nid", form) for form in NID_FORMS])


@dataclass(frozen=True)
class Planted:
    """One PII value written into a line.

    Attributes:
        kind: ``phone``, ``email``, ``card``, ``nid`` or ``name``.
        form: How it is written, e.g. ``+880 spaced``, ``visa dashes``, ``13``, ``author``.
        value: Exactly as written (before JSON escaping).
        where: The field or situation it sits in, e.g. ``content``, ``customer_phone``,
            ``not_json_text``.
    """

    kind: str
    form: str
    value: str
    where: str


@dataclass
class Line:
    """One line of the corpus.

    Attributes:
        number: 1-based line number (the offset file mode reports).
        raw: The bytes of the line, without its ending.
        valid: Whether the contract accepts it.
        reason: ``valid``, or the label of the rule it breaks.
        fields: For rule violations, the field names (any of them) the dead letter should name.
        is_object: Whether the line is a JSON object (so the dead letter keeps an object).
        pii: Every PII value planted in the line.
        expected: For valid lines, what the record must hold (ids, event time in UTC, ...).
        ending: The line ending (a few lines use CRLF).
    """

    number: int
    raw: bytes
    valid: bool
    reason: str
    fields: tuple[str, ...] = ()
    is_object: bool = False
    pii: list[Planted] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)
    ending: bytes = b"\n"


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is added
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    return luhn_check_digit(digits[:-1]) == digits[-1]


class PiiMaker:
    """Makes synthetic PII values in every form the contract lists.

    Args:
        rng: The corpus's random source.
    """

    _FIRST = ["Rahim", "Karim", "Nusrat", "Farhana", "Tanvir", "Sadia", "Mehedi", "Tahmina"]
    _LAST = ["Uddin", "Akter", "Hossain", "Chowdhury", "Rahman", "Begum", "Sarkar", "Islam"]
    _BN_NAMES = ["রহিম উদ্দিন", "নুসরাত জাহান", "ফারহানা আক্তার", "তানভীর হোসেন"]
    _DOMAINS = ["gmail.com", "yahoo.com", "daraz.com.bd", "mail.shop-bd.net"]

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._free = itertools.cycle(FREE_TEXT_PII)
        self._serial = itertools.count(101)

    def national_number(self) -> str:
        """A 10-digit mobile number without its leading 0, e.g. ``1712345678``."""
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10 ** 8):08d}"

    def email(self) -> str:
        """A unique e-mail address, sometimes with dots, plus tags or upper case."""
        first, last = self.rng.choice(self._FIRST), self.rng.choice(self._LAST)
        local = self.rng.choice([f"{first.lower()}.{last.lower()}", f"{first}{last}",
                                 f"{first.lower()}+shop", f"{last.lower()}_{first[0].lower()}"])
        return f"{local}{next(self._serial)}@{self.rng.choice(self._DOMAINS)}"

    def name(self) -> str:
        """A unique person's name, in Latin or Bengali script."""
        serial = next(self._serial)
        if self.rng.random() < 0.25:
            return f"{self.rng.choice(self._BN_NAMES)} {serial}"
        return f"{self.rng.choice(self._FIRST)} {self.rng.choice(self._LAST)} Q{serial}"

    def handle(self) -> str:
        """A unique social-media handle (``author``)."""
        first = self.rng.choice(self._FIRST).lower()
        return self.rng.choice([f"{first}.bd.{next(self._serial)}",
                                f"@{first}_{next(self._serial)}_shop",
                                f"{first.capitalize()} \"Deals\" {next(self._serial)}"])

    def card(self, style: str) -> str:
        """A Luhn-valid card number written in ``style`` (brand, then separator)."""
        brand, separator = style.split()
        prefix, length, groups = {"visa": ("4", 16, (4, 4, 4, 4)),
                                  "mastercard": (str(self.rng.randrange(51, 56)), 16, (4, 4, 4, 4)),
                                  "amex": (self.rng.choice(["34", "37"]), 15, (4, 6, 5))}[brand]
        body = prefix + "".join(self.rng.choice("0123456789")
                                for _ in range(length - 1 - len(prefix)))
        digits = body + luhn_check_digit(body)
        if separator == "plain":
            return digits
        parts, start = [], 0
        for size in groups:
            parts.append(digits[start:start + size])
            start += size
        return {"spaces": " ", "dashes": "-"}[separator].join(parts)

    def nid(self, length: int) -> str:
        """A national ID number of ``length`` digits (17-digit ones start with a birth year)."""
        head = str(self.rng.randrange(1960, 2006) if length == 17 else self.rng.randrange(2, 10))
        return head + "".join(self.rng.choice("0123456789") for _ in range(length - len(head)))

    def free_text_item(self, where: str) -> Planted:
        """The next kind of free-text PII in the cycle, as a fresh value."""
        kind, form = next(self._free)
        if kind == "phone":
            value = TEXT_PHONE_FORMS[form](self.national_number())
        elif kind == "email":
            value = self.email()
        elif kind == "card":
            value = self.card(form)
        else:
            value = self.nid(int(form.split()[0]))
            if "bengali" in form:
                value = value.translate(BENGALI_DIGITS)
        return Planted(kind, form, value, where)


# Free-text templates: PII next to Bengali text, punctuation and brackets, never glued to an
# ASCII letter or digit (where even a human could not tell where the number ends).
_LEADS = ["যোগাযোগ: {}", "call {} now", "WhatsApp ({})", "ফোন{} ।", "bKash/Nagad {}.",
          "inbox or mail {}", "NID {} verified", "pay with {} ok?", "অর্ডার করতে {} এ কল করুন"]
_POSTS = ["নতুন স্টক এসেছে! Samsung Galaxy A15 মাত্র ১৮,৯৯৯ টাকা",
          "Eid sale on jamdani saree, limited pieces", "Best earbuds under 2000 taka 🔥",
          "Laptop for students — HP Pavilion 15, 16GB RAM", "রাইস কুকার অফার চলছে",
          "Winter collection: hoodies & jackets", "Skincare combo, 100% original",
          "ঢাকার মধ্যে ফ্রি ডেলিভারি", "Power bank 20000mAh in stock"]
_PRODUCTS = ["Redmi Note 13 (8/256)", "Cotton Panjabi — Eid edition", "Power bank 20000mAh",
             "জামদানি শাড়ি", "Walton fridge 252L", "Nike running shoes size 42",
             "Rice cooker 1.8L", "Face wash 150ml"]
_CITIES = ["Dhaka", "Chittagong", "Sylhet", "Khulna", "Rajshahi", "Barisal", "Rangpur",
           "Mymensingh", "Comilla"]
_HASHTAGS = ["#deal", "#dhaka", "#ঈদ", "#fashion", "#tech", "#sale", "#অফার"]


def _event_time(rng: random.Random) -> tuple[str, datetime]:
    """An ISO-8601 time in one of the written styles, and the UTC instant it means."""
    utc = datetime(2025, 11, 1, tzinfo=timezone.utc) + timedelta(
        minutes=rng.randrange(60 * 24 * 55), seconds=rng.choice([0, 0, 17]))
    style = rng.choice(["naive", "Z", "+06:00", "+00:00", "-05:00", "fraction Z"])
    if style == "naive":  # naive times are UTC by contract
        return utc.strftime("%Y-%m-%dT%H:%M:%S"), utc
    if style in ("Z", "fraction Z"):
        fraction = ".250" if style == "fraction Z" else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z", utc + timedelta(
            milliseconds=250 if fraction else 0)
    hours = int(style[:3])
    local = utc.astimezone(timezone(timedelta(hours=hours)))
    return local.isoformat(timespec="seconds"), utc


def _free_text(base: str, pii: PiiMaker, rng: random.Random, where: str,
               count: int) -> tuple[str, list[Planted]]:
    """``base`` with ``count`` PII items woven in."""
    planted, parts = [], [base]
    for _ in range(count):
        item = pii.free_text_item(where)
        planted.append(item)
        parts.append(rng.choice(_LEADS).format(item.value))
    rng.shuffle(parts)
    return " ".join(parts), planted


class _Builder:
    """Builds one pipeline's valid records, with the PII planted in each.

    Args:
        kind: ``social`` or ``market``.
        rng: The corpus's random source.
    """

    def __init__(self, kind: str, rng: random.Random):
        self.kind = kind
        self.rng = rng
        self.pii = PiiMaker(rng)
        self._ids = itertools.count(1)
        # Reused authors and customers: equal PII must hash alike across records (joins).
        self._authors = [self.pii.handle() if i % 3 else self.pii.name() for i in range(40)]
        self._customers = [(self.pii.national_number(), self.pii.email(), self.pii.name())
                           for _ in range(40)]
        self._phone_forms = itertools.cycle(PHONE_FORMS)
        self._order: Optional[tuple[str, str]] = None

    def record(self) -> tuple[dict[str, Any], list[Planted], dict[str, Any]]:
        """A valid record (as written), its planted PII and what the output must hold."""
        return self._post() if self.kind == SOCIAL else self._order_line()

    def _post(self):
        rng = self.rng
        serial = next(self._ids)
        author = rng.choice(self._authors)
        content, planted = _free_text(rng.choice(_POSTS), self.pii, rng, "content",
                                      rng.choice([0, 1, 1, 2, 3]))
        planted.insert(0, Planted("name", "author", author, "author"))
        written_time, utc = _event_time(rng)
        engagement = rng.randrange(20000)
        record = {
            "platform": rng.choice(["tiktok", "facebook"]),
            "post_id": f"HO-P-{serial:05d}",
            rng.choice(["author", "author_username"]): author,
            # Padding must be stripped before the 5-character rule, not counted.
            "content": rng.choice(["", "  ", "\t"]) + content + rng.choice(["", " ", "\n"]),
            "engagement_count": rng.choice([engagement, str(engagement)]),
            rng.choice(["posted_at", "timestamp"]): written_time,
        }
        self._optional_post_fields(record, planted)
        return record, planted, {"id": record["post_id"], "event_utc": utc, "author": author,
                                 "counts": {"engagement_count": engagement}}

    def _optional_post_fields(self, record: dict, planted: list[Planted]) -> None:
        rng = self.rng
        for name in ("likes_count", "comments_count", "shares_count"):
            if rng.random() < 0.4:
                value = rng.randrange(500)
                record[name] = rng.choice([value, str(value)])
        if rng.random() < 0.7:
            record["hashtags"] = rng.sample(_HASHTAGS, rng.randrange(4))
        if rng.random() < 0.3:
            record["product_mentions"] = rng.sample(_PRODUCTS, rng.randrange(1, 3))
        if rng.random() < 0.5:
            record["location"] = rng.choice(_CITIES)
        self._unknown_fields(record, planted)

    def _unknown_fields(self, record: dict, planted: list[Planted]) -> None:
        # Fields the contract does not know; one of them carries a phone number or e-mail.
        if self.rng.random() < 0.3:
            record["source_app"] = {"name": "crawler", "v": [2, 1]}
        if self.rng.random() < 0.2:
            item = self.pii.free_text_item("unknown field")
            record["seller_note"] = f"reach me at {item.value}"
            planted.append(item)

    def _order_line(self):
        rng = self.rng
        # Some lines continue the previous order (multi-item orders share an order_id).
        if self._order is None or rng.random() < 0.6:
            self._order = (f"HO-O-{next(self._ids):05d}", f"M-{rng.randrange(1, 60):03d}")
        order_id, merchant_id = self._order
        national, email, name = rng.choice(self._customers)
        form = next(self._phone_forms)
        phone = PHONE_FORMS[form](national)
        planted = [Planted("phone", form, phone, "customer_phone"),
                   Planted("email", "plain", email, "customer_email"),
                   Planted("name", "customer_name", name, "customer_name")]
        product, in_name = self._product_name()
        planted += in_name
        quantity = rng.randrange(1, 6)
        price = round(rng.uniform(50, 95000), 2)
        written_time, utc = _event_time(rng)
        record = {
            "platform": rng.choice(["shopify", "daraz"]),
            "order_id": order_id, "merchant_id": merchant_id,
            "product_id": f"SKU-{next(self._ids):05d}",
            "product_name": product,
            "quantity": rng.choice([quantity, str(quantity)]),
            rng.choice(["unit_price", "price"]): price,
            "order_status": rng.choice(["pending", "confirmed", "shipped", "delivered"]),
            "customer_phone": phone, "customer_email": email, "customer_name": name,
            rng.choice(["created_at", "timestamp"]): written_time,
        }
        expected = self._optional_order_fields(record, planted, quantity, price)
        expected.update(id=(order_id, record["product_id"]), event_utc=utc, national=national,
                        quantity=quantity, unit_price=price)
        return record, planted, expected

    def _product_name(self) -> tuple[str, list[Planted]]:
        base = self.rng.choice(_PRODUCTS)
        if self.rng.random() < 0.35:
            return _free_text(base, self.pii, self.rng, "product_name", 1)
        return base, []

    def _optional_order_fields(self, record, planted, quantity, price) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < 0.5:
            # Within the 0.01 tolerance, written with stray digits.
            record["total_price"] = round(quantity * price + rng.uniform(-0.006, 0.006), 4)
        currency = rng.choice([None, None, "BDT", "USD"])
        if currency:
            record["currency"] = currency
        if rng.random() < 0.6:
            record["payment_method"] = rng.choice(["cod", "bkash", "nagad", "card"])
        if rng.random() < 0.6:
            record["shipping_city"] = rng.choice(_CITIES)
            record["shipping_region"] = "Dhaka Division"
        for name in ("customer_email", "customer_name"):
            if rng.random() < 0.15:  # optional PII fields absent
                del record[name]
        planted[:] = [p for p in planted if p.where not in {"customer_email", "customer_name"}
                      or p.where in record]
        self._unknown_fields(record, planted)
        return {"currency": currency or "BDT"}


def _messy_string(text: str, rng: random.Random) -> str:
    # Sometimes \u-escaped: the same string, written the other way JSON allows.
    return json.dumps(text, ensure_ascii=rng.random() < 0.25)


def messy_json(value: Any, rng: random.Random) -> str:
    """Serialises ``value`` as one-line JSON with random (legal) whitespace and escaping."""
    def space() -> str:
        return rng.choice(["", "", " ", "  ", "\t", " \t "])
    if isinstance(value, dict):
        items = [f"{space()}{_messy_string(key, rng)}{space()}:{space()}{messy_json(item, rng)}"
                 f"{space()}" for key, item in value.items()]
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{space()}{messy_json(item, rng)}{space()}" for item in value) + "]"
    if isinstance(value, str):
        return _messy_string(value, rng)
    return json.dumps(value)


def _shuffled(record: dict, rng: random.Random) -> dict:
    items = list(record.items())
    rng.shuffle(items)
    return dict(items)


def _present(planted: list[Planted], text: str) -> list[Planted]:
    """The planted values still wholly written in ``text`` (raw or JSON-escaped)."""
    return [p for p in planted
            if p.value in text or json.dumps(p.value)[1:-1] in text
            or json.dumps(p.value, ensure_ascii=False)[1:-1] in text]


Invalid = tuple[bytes, tuple[str, ...], bool, list[Planted]]


class _Breaker:
    """Makes the invalid lines, one function per labelled reason.

    Each function returns ``(raw, fields, is_object, planted)``.

    Args:
        builder: The valid-record builder (the PII of its record stays planted).
    """

    def __init__(self, builder: _Builder):
        self.b = builder
        self.rng = builder.rng
        self.pii = builder.pii

    def reasons(self) -> dict[str, Callable[[], Invalid]]:
        """Every invalid kind for this pipeline, by label."""
        common = {
            "not_utf8_text": self._not_utf8_text, "not_utf8_json": self._not_utf8_json,
            "not_json_text": self._not_json_text, "python_repr": self._python_repr,
            "truncated_json": self._truncated_json, "nan_literal": self._nan_literal,
            "json_array": self._json_array, "pii_in_keys": self._pii_in_keys,
            "json_number": lambda: (b"42", (), False, []),
            "json_string": self._json_string, "json_null": lambda: (b"null", (), False, []),
            "json_true": lambda: (b" true ", (), False, []),
            "empty": lambda: (b"", (), False, []),
            "whitespace_only": lambda: (self.rng.choice([b"   ", b"\t", b" \t  "]), (), False, []),
        }
        return {**common, **(self._social_rules() if self.b.kind == SOCIAL
                             else self._market_rules())}

    def _social_rules(self) -> dict[str, Callable[[], Invalid]]:
        time_keys, author_keys = ("posted_at", "timestamp"), ("author", "author_username")
        return {
            "missing_post_id": self._drop(("post_id",)),
            "missing_author": self._drop(author_keys),
            "missing_content": self._drop(("content",)),
            "missing_engagement_count": self._drop(("engagement_count",)),
            "missing_posted_at": self._drop(time_keys),
            "empty_post_id": self._set(("post_id",), ""),
            "empty_author": self._set(author_keys, ""),
            "engagement_lots": self._set(("engagement_count",), "lots"),
            "engagement_negative": self._set(("engagement_count",), -3),
            "engagement_fraction": self._set(("engagement_count",), 2.5),
            "engagement_boolean": self._set(("engagement_count",), True),
            "likes_negative": self._set(("likes_count",), -1),
            "shares_text": self._set(("shares_count",), "many"),
            "content_short": self._set(("content",), "   hi  "),
            "content_short_bengali": self._set(("content",), "  ভাল \n"),
            "content_blank": self._set(("content",), "      "),
            "content_number": self._set(("content",), 1234567),
            "bad_datetime_word": self._set(time_keys, "yesterday"),
            "bad_datetime_range": self._set(time_keys, "2025-13-40T25:61:00"),
            "bad_datetime_local": self._set(time_keys, "20/12/2025 10:30"),
            "unknown_platform": self._set(("platform",), "instagram"),
            "hashtags_not_list": self._set(("hashtags",), "#eid"),
        }

    def _market_rules(self) -> dict[str, Callable[[], Invalid]]:
        price_keys, time_keys = ("unit_price", "price"), ("created_at", "timestamp")
        rules = {f"missing_{name}": self._drop((name,)) for name in (
            "order_id", "merchant_id", "product_id", "product_name", "quantity", "order_status")}
        return {
            **rules,
            "missing_unit_price": self._drop(price_keys),
            "missing_created_at": self._drop(time_keys),
            "empty_product_name": self._set(("product_name",), ""),
            "quantity_zero": self._set(("quantity",), 0),
            "quantity_negative": self._set(("quantity",), -2),
            "quantity_text": self._set(("quantity",), "two"),
            "unit_price_zero": self._set(price_keys, 0),
            "unit_price_negative": self._set(price_keys, -10.5),
            "total_price_mismatch": self._total_mismatch,
            "currency_lowercase": self._set(("currency",), "bdt"),
            "currency_word": self._set(("currency",), "TAKA"),
            "currency_short": self._set(("currency",), "BD"),
            "unknown_platform": self._set(("platform",), "amazon"),
            "bad_datetime_local": self._set(time_keys, "31/12/2025"),
            "bad_datetime_word": self._set(time_keys, "last tuesday"),
        }

    def _base(self) -> tuple[dict, list[Planted]]:
        record, planted, _ = self.b.record()
        return record, planted

    def _encode(self, record: dict, planted: list[Planted], fields: tuple[str, ...]) -> Invalid:
        return messy_json(record, self.rng).encode("utf-8"), fields, True, planted

    def _drop(self, keys: tuple[str, ...]) -> Callable[[], Invalid]:
        def make() -> Invalid:
            record, planted = self._base()
            for key in keys:
                record.pop(key, None)
            return self._encode(record, planted, keys)
        return make

    def _set(self, keys: tuple[str, ...], value: Any) -> Callable[[], Invalid]:
        def make() -> Invalid:
            record, planted = self._base()
            present = [key for key in keys if key in record] or [keys[0]]
            record[present[0]] = value
            return self._encode(record, planted, keys)
        return make

    def _total_mismatch(self) -> Invalid:
        record, planted = self._base()
        quantity = int(record["quantity"])
        price = record.get("unit_price", record.get("price"))
        record["total_price"] = round(quantity * price + self.rng.choice([0.05, 1.0, -3.0]), 2)
        return self._encode(record, planted, ("total_price",))

    def _not_utf8_text(self) -> Invalid:
        item = self.pii.free_text_item("not_utf8_text")
        raw = b"\xff\xfe order " + item.value.encode("utf-8") + b" \xc3\x28 please call"
        return raw, (), False, [item]

    def _not_utf8_json(self) -> Invalid:
        # A well-formed object around one broken byte: its author/customer must still be hidden.
        record, planted = self._base()
        text_key = "content" if self.b.kind == SOCIAL else "product_name"
        record[text_key] = str(record[text_key]) + " @@BROKEN@@"
        raw = json.dumps(record, ensure_ascii=False).encode("utf-8")
        return raw.replace(b"@@BROKEN@@", b"\xe0\x80\xaf"), (), False, planted

    def _not_json_text(self) -> Invalid:
        items = [self.pii.free_text_item("not_json_text") for _ in range(3)]
        text = "Hello, " + ", ".join(self.rng.choice(_LEADS).format(i.value) for i in items)
        return text.encode("utf-8"), (), False, items

    def _python_repr(self) -> Invalid:
        # What a producer that print()s dicts sends: single quotes, so not JSON.
        record, planted = self._base()
        return repr(record).encode("utf-8"), (), False, planted

    def _truncated_json(self) -> Invalid:
        # Cut somewhere after the structured PII fields, so their full values are in the line.
        record, planted = self._base()
        pii_keys = ("author", "author_username", "customer_phone", "customer_email",
                    "customer_name")
        ordered = {k: record[k] for k in record if k in pii_keys}
        ordered.update((k, v) for k, v in record.items() if k not in pii_keys)
        text = json.dumps(ordered, ensure_ascii=False)
        last_pii = max(text.find(json.dumps(ordered[k], ensure_ascii=False)) + len(
            json.dumps(ordered[k], ensure_ascii=False)) for k in ordered if k in pii_keys)
        text = text[:self.rng.randrange(last_pii + 1, len(text) - 1)]
        return text.encode("utf-8"), (), False, planted

    def _nan_literal(self) -> Invalid:
        # NaN is not JSON (RFC 8259), even though Python's json module writes it.
        record, planted = self._base()
        record["engagement_count" if self.b.kind == SOCIAL else "quantity"] = float("nan")
        return json.dumps(record, ensure_ascii=False).encode("utf-8"), (), False, planted

    def _json_array(self) -> Invalid:
        # A valid object wrapped in an array is still not an object; its PII is still PII.
        record, planted = self._base()
        return ("[" + messy_json(record, self.rng) + "]").encode("utf-8"), (), False, planted

    def _pii_in_keys(self) -> Invalid:
        # An unknown field keyed by phone numbers and e-mails (a producer's contact map) on a
        # line that breaks a rule: the dead letter keeps the object, and its keys are text too.
        record, planted = self._base()
        items = [self.pii.free_text_item("object key") for _ in range(2)]
        record["contacts"] = {item.value: "whatsapp" for item in items}
        del record["platform"]
        return self._encode(record, planted + items, ("platform",))

    def _json_string(self) -> Invalid:
        item = self.pii.free_text_item("json_string")
        return json.dumps(f"call {item.value} for price").encode("utf-8"), (), False, [item]


def corpus(kind: str, count: int = LINES_PER_PIPELINE, seed: int = SEED) -> list[Line]:
    """The held-out lines of one pipeline.

    Every invalid reason appears at least once; the rest of the invalid share is drawn at
    random among them. Invalid lines sit at random positions.

    Args:
        kind: ``social`` or ``market``.
        count: Number of lines.
        seed: Random seed (the corpus is a pure function of its arguments).

    Returns:
        The lines, numbered from 1.
    """
    if kind not in (SOCIAL, MARKET):
        raise ValueError(f"kind must be social or market, got {kind!r}")
    rng = random.Random(f"{seed}-{kind}")
    builder = _Builder(kind, rng)
    makers = _Breaker(builder).reasons()
    invalid_count = max(len(makers), round(count * INVALID_SHARE))
    reasons = list(makers) + [rng.choice(list(makers)) for _ in range(invalid_count - len(makers))]
    rng.shuffle(reasons)
    invalid_at = dict(zip(sorted(rng.sample(range(1, count + 1), invalid_count)), reasons))
    lines = []
    for number in range(1, count + 1):
        ending = b"\r\n" if rng.random() < 0.05 else b"\n"
        if number in invalid_at:
            reason = invalid_at[number]
            raw, fields, is_object, planted = makers[reason]()
            # A rule violation or a cut may have removed a planted value: keep what is there.
            planted = _present(planted, raw.decode("utf-8", errors="replace"))
            lines.append(Line(number, raw, False, reason, fields, is_object, planted,
                              ending=ending))
            continue
        record, planted, expected = builder.record()
        raw = messy_json(_shuffled(record, rng), rng)
        # Whitespace around the object is legal JSON.
        raw = rng.choice(["", "", " ", "\t"]) + raw + rng.choice(["", "", "  "])
        lines.append(Line(number, raw.encode("utf-8"), True, VALID, (), True, planted,
                          expected, ending))
    return lines


def file_bytes(lines: list[Line]) -> bytes:
    """The JSONL file of ``lines``; it ends with a newline, which adds no line."""
    return b"".join(line.raw + line.ending for line in lines)
