"""Synthetic sample posts and orders for the demo and benchmarks (not the held-out test corpus).

About one line in eight is deliberately broken, and some lines carry PII, so a demo run shows
both the dead-letter path and the privacy shield at work.
"""
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Iterator

CITIES = ["Dhaka", "Chittagong", "Sylhet", "Khulna", "Rajshahi", "Barisal", "Rangpur",
          "Mymensingh"]
PRODUCTS = {
    "smartphone": ["Samsung Galaxy A15", "Xiaomi Redmi Note 13", "iPhone 13", "Realme C55",
                   "Infinix Hot 40"],
    "laptop": ["HP Pavilion 15 laptop", "Lenovo IdeaPad Slim 3", "MacBook Air M2",
               "ASUS VivoBook 15"],
    "fashion": ["Jamdani saree", "Cotton panjabi", "Embroidered kurti", "Denim jeans"],
    "electronics": ["Wireless earbuds", "20000mAh power bank", "Bluetooth speaker",
                    "Smart watch"],
    "home": ["Rice cooker 1.8L", "Non-stick cookware set", "Blackout curtain",
             "Ceiling fan"],
}
_PHRASES = ["Best price in {city}!", "Just got my {product}, loving it", "Who sells {product}?",
            "{product} review after one month", "Eid offer on {product}",
            "{product} ki pawa jabe {city} e?"]
_NAMES = ["Rahim Uddin", "Karim Hossain", "Nusrat Jahan", "Farhana Akter", "Tanvir Ahmed"]


def _post(rng: random.Random, index: int, start: datetime) -> dict:
    category = rng.choice(list(PRODUCTS))
    product, city = rng.choice(PRODUCTS[category]), rng.choice(CITIES)
    content = rng.choice(_PHRASES).format(product=product, city=city)
    if rng.random() < 0.2:
        content += f" Call 01{rng.randint(3, 9)}{rng.randint(10000000, 99999999)}"
    return {
        "platform": rng.choice(["tiktok", "facebook"]), "post_id": f"post-{index:06d}",
        "author_username" if rng.random() < 0.5 else "author": f"user_{rng.randint(1, 999)}",
        "content": content, "engagement_count": rng.randint(0, 5000),
        "likes_count": rng.randint(0, 4000), "hashtags": [f"#{category}", "#bangladesh"],
        "posted_at": (start + timedelta(minutes=7 * index)).isoformat(), "location": city,
    }


def _order(rng: random.Random, index: int, start: datetime) -> dict:
    category = rng.choice(list(PRODUCTS))
    quantity, price = rng.randint(1, 4), float(rng.randint(300, 90000))
    return {
        "platform": rng.choice(["shopify", "daraz"]), "order_id": f"order-{index:06d}",
        "merchant_id": f"m-{rng.randint(1, 40)}", "product_id": f"{category[:3]}-{rng.randint(1, 50)}",
        "product_name": rng.choice(PRODUCTS[category]), "quantity": quantity,
        "unit_price": price, "total_price": quantity * price, "order_status": "paid",
        "payment_method": rng.choice(["bkash", "nagad", "card", "cod"]),
        "customer_phone": f"+880 1{rng.randint(3, 9)}{rng.randint(10, 99)}-{rng.randint(100000, 999999)}",
        "customer_email": f"buyer{rng.randint(1, 999)}@example.com",
        "customer_name": rng.choice(_NAMES), "shipping_city": rng.choice(CITIES),
        "created_at": (start + timedelta(minutes=5 * index)).isoformat(),
    }


_BREAKERS = [
    lambda r: {**r, "engagement_count": "lots"} if "engagement_count" in r else {**r, "quantity": 0},
    lambda r: {k: v for k, v in r.items() if k not in ("posted_at", "created_at")},
    lambda r: json.dumps(r)[: len(json.dumps(r)) // 2],  # truncated JSON
    lambda r: "sorry, not json",
]


def sample_lines(kind: str, count: int, *, seed: int = 7) -> Iterator[str]:
    """Yields ``count`` JSON lines of ``kind`` ("social" or "market"), some deliberately broken.

    Args:
        kind: Record kind.
        count: Number of lines.
        seed: Random seed; the same seed gives the same lines.
    """
    make = {"social": _post, "market": _order}[kind]
    rng = random.Random(seed)
    start = datetime(2025, 12, 1, tzinfo=timezone.utc)
    for index in range(count):
        record = make(rng, index, start)
        if rng.random() < 0.125:
            record = rng.choice(_BREAKERS)(record)
        yield record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
