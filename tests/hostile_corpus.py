"""Hostile messages for both pipelines: broken encodings, hostile JSON and mutated records.

Every message carries planted PII (a phone number and an e-mail address) so that the suites can
check that no dead letter or log line gives it back. Messages never contain a line break, so a
file of them has exactly one message per line.
"""
import json
import random

PHONE = "01712345678"
EMAIL = "probe.hostile@example.com"
PLANTED = (PHONE, "+880 1712-345678", EMAIL)
BIG_BYTES = 10 * 1024 * 1024


def valid_record(kind: str, index: int) -> dict:
    """A record the contract accepts, with PII in its fields and its free text."""
    if kind == "social":
        return {"platform": "tiktok", "post_id": f"h-{index}", "author": "Hostile Tester",
                "content": f"call {PHONE} or mail {EMAIL} today", "engagement_count": 5,
                "posted_at": "2025-12-19T10:00:00Z", "location": "Dhaka"}
    return {"platform": "daraz", "order_id": f"h-{index}", "merchant_id": "m-1",
            "product_id": "p-1", "product_name": f"Saree, call {PHONE}", "quantity": 2,
            "unit_price": 100.0, "total_price": 200.0, "order_status": "paid",
            "customer_phone": "+880 1712-345678", "customer_email": EMAIL,
            "customer_name": "Hostile Buyer", "created_at": "2025-12-01T00:00:00Z"}


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def fixed_messages(kind: str, *, big_bytes: int = BIG_BYTES) -> list[tuple[str, bytes, bool]]:
    """The named hostile cases: ``(label, message, expected_to_be_a_record)``."""
    rec = valid_record
    body = _dumps(rec(kind, 0))
    count_field = "engagement_count" if kind == "social" else "quantity"
    text_field = "content" if kind == "social" else "product_name"
    deep = f'{{"pii": "{PHONE}", "x": ' * 10_000 + "1" + "}" * 10_000
    big = rec(kind, 3)
    big[text_field] = f"call {PHONE} " + "x" * big_bytes
    with_nul = rec(kind, 13)
    with_nul[text_field] = f"nul\u0000byte, call {PHONE}"
    dup = _dumps(rec(kind, 9))[:-1] + f', "{text_field}": "dup {PHONE}"}}'.encode()
    return [
        ("valid", body, True),
        ("invalid utf-8", b"\xff\xfe" + _dumps(rec(kind, 1)), False),
        ("deep arrays", b"[" * 10_000 + b"]" * 10_000, False),
        ("deep objects", deep.encode(), False),
        ("deep inside a record",
         _dumps(rec(kind, 2))[:-1] + b', "extra": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
         False),
        ("10 MB string", _dumps(big), False),
        ("NaN", _dumps(rec(kind, 4)).replace(b'"paid"', b'"paid", "n": NaN')
         .replace(b'"Dhaka"', b'"Dhaka", "n": NaN'), False),
        ("Infinity", _dumps({**rec(kind, 5), count_field: 1}).replace(
            f'"{count_field}": 1'.encode(), f'"{count_field}": Infinity'.encode()), False),
        ("-Infinity", _dumps({**rec(kind, 6), "extra": 1}).replace(
            b'"extra": 1', b'"extra": -Infinity'), False),
        ("1e309", _dumps({**rec(kind, 7), "extra": 1}).replace(b'"extra": 1',
                                                              b'"extra": 1e309'), False),
        ("huge integer", _dumps({**rec(kind, 8), "extra": 1}).replace(
            b'"extra": 1', b'"extra": ' + b"9" * 5000), False),
        ("duplicate keys", dup, False),
        ("array at the top", b"[" + _dumps(rec(kind, 10)) + b"]", False),
        ("raw null byte", _dumps(rec(kind, 11)).replace(b"call", b"ca\x00ll"), False),
        ("null byte outside JSON", b"\x00" + _dumps(rec(kind, 12)), False),
        ("escaped null in text", _dumps(with_nul), True),
        ("BOM", b"\xef\xbb\xbf" + _dumps(rec(kind, 14)), True),
        ("only a BOM", b"\xef\xbb\xbf", False),
        ("empty", b"", False),
        ("lone surrogate", _dumps(rec(kind, 15)).replace(b"today", b"\\ud800 today"), None),
    ]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Applies 1-4 random byte-level mutations; never introduces a line break."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            del out[min(at, len(out) - 1)]
        elif op == 1:
            out.insert(at, rng.randrange(256))
        elif op == 2 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif op == 3:
            out = out[:at]
        elif op == 4 and out:
            end = min(len(out), at + rng.randint(1, 20))
            out[at:at] = out[at:end]
        else:
            out.insert(at, rng.choice(b'{}[]",:\\'))
    return bytes(out).replace(b"\n", b" ").replace(b"\r", b" ")


def mutated_messages(kind: str, count: int, seed: int = 1212) -> list[bytes]:
    """``count`` random mutations of valid records (each from a distinct record)."""
    rng = random.Random(seed)
    return [mutate(_dumps(valid_record(kind, 100_000 + i)), rng) for i in range(count)]
