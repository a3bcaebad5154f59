"""The privacy shield: no planted PII survives, in fields, free text or dead letters."""
import hashlib
import hmac
import json
from datetime import datetime

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings, strategies as st

from sensory.settings import ConfigurationError, load_pii_key
from sensory.transforms.pii import ScrubDeadLetters, ShieldPII, _ScrubDeadLetterFn, _ShieldFn
from sensory.transforms.pii_text import PIIHasher, luhn_valid, normalize_phone

KEY = b"unit-test-key-0123456789abcdef"
HASHER = PIIHasher(KEY)
BENGALI = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")

# --- generators of PII in every form the contract lists -------------------------------------
national = st.from_regex(r"1[3-9][0-9]{8}", fullmatch=True)  # 1712345678


@st.composite
def phones(draw):
    """A Bangladeshi mobile number in one of its written forms, and its 10-digit core."""
    n = draw(national)
    forms = [f"+880{n}", f"880{n}", f"0{n}", f"+880 {n[:4]}-{n[4:]}", f"0{n[:4]}-{n[4:]}",
             f"+88 0{n}", f"00880{n}", f"0{n[:4]} {n[4:7]} {n[7:]}", f"0{n}".translate(BENGALI)]
    return draw(st.sampled_from(forms)), n


def _luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        if luhn_valid(prefix + check):
            return prefix + check
    raise AssertionError("unreachable")


@st.composite
def cards(draw):
    """A Luhn-valid card number, plain or grouped by spaces or dashes; and its digits."""
    length = draw(st.sampled_from([13, 15, 16, 19]))
    body = draw(st.sampled_from("3456")) + draw(st.from_regex(
        r"[0-9]{%d}" % (length - 2), fullmatch=True))
    digits = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    written = sep.join(digits[i:i + 4] for i in range(0, len(digits), 4)) if sep else digits
    return written, digits


nids = st.sampled_from([10, 13, 17]).flatmap(
    lambda n: st.from_regex(r"[1-9][0-9]{%d}" % (n - 1), fullmatch=True))
emails = st.one_of(st.emails(), st.from_regex(r"[a-z][a-z0-9._+-]{2,12}@(gmail|yahoo)\.com",
                                              fullmatch=True))
filler = st.text(alphabet=st.sampled_from(list("abcxyz ABC.,!?#@:()+") + list("আমিফোনকরুন")),
                 max_size=20)


@st.composite
def text_with_pii(draw):
    """Free text with 1-4 planted values; returns (text, strings that must not survive)."""
    pieces, forbidden = [draw(filler)], []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["phone", "card", "nid", "email"]))
        if kind == "phone":
            written, core = draw(phones())
            forbidden += [written, core]
        elif kind == "card":
            written, digits = draw(cards())
            forbidden += [written, digits]
        elif kind == "nid":
            written = draw(nids)
            forbidden.append(written)
        else:
            written = draw(emails)
            forbidden.append(written.lower())
        pieces += [written, draw(filler)]
    return " ".join(pieces), forbidden


def _assert_gone(output: str, forbidden):
    lowered = output.lower()
    for value in forbidden:
        assert value.lower() not in lowered, f"{value!r} survived in {output!r}"


# --- properties ---------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(text_with_pii())
def test_free_text_pii_never_survives(case):
    text, forbidden = case
    _assert_gone(HASHER.scrub_text(text), forbidden)


@settings(max_examples=200, deadline=None)
@given(phones(), phones())
def test_all_phone_forms_hash_alike(a, b):
    (written_a, core_a), (written_b, core_b) = a, b
    assert normalize_phone(written_a) == f"+880{core_a}"
    same = HASHER.hash_field("customer_phone", written_a) == HASHER.hash_field(
        "customer_phone", written_b)
    assert same == (core_a == core_b)


def _shield(record):
    fn = _ShieldFn(None)
    fn.setup()
    return fn.transform_record(record)


@settings(max_examples=150, deadline=None)
@given(text_with_pii(), phones(), emails,
       st.from_regex(r"[g-z][a-z0-9._]{5,14}", fullmatch=True))
def test_record_fields_and_text_are_shielded(pii_key, case, phone, email, name):
    text, forbidden = case
    record = {"platform": "daraz", "order_id": "o-1", "product_name": text,
              "customer_phone": phone[0], "customer_email": email, "customer_name": name,
              "_source": {"topic": "t", "partition": 0, "offset": 1}}
    out = _shield(record)
    assert not {"customer_phone", "customer_email", "customer_name"} & set(out)
    assert out["customer_phone_hash"] == HASHER.hash_field("customer_phone", f"0{phone[1]}")
    assert out["_anonymized"] is True and out["_anonymization_version"] == "1"
    assert out["order_id"] == "o-1" and out["_source"] == record["_source"]
    _assert_gone(json.dumps(out, ensure_ascii=False),
                 forbidden + [phone[0], phone[1], email.lower(), name])


@settings(max_examples=150, deadline=None)
@given(text_with_pii(), st.from_regex(r"[g-z][a-z0-9._]{5,14}", fullmatch=True),
       st.sampled_from(["json", "truncated", "bytes"]))
def test_dead_letters_are_scrubbed(pii_key, case, author, shape):
    text, forbidden = case
    obj = {"author_username": author, "content": text, "nested": [{"customer_name": author}]}
    if shape == "json":
        original = obj
    elif shape == "truncated":
        original = json.dumps(obj, ensure_ascii=False)[:-3]
    else:
        original = ("\ufffd\ufffd" + json.dumps(obj, ensure_ascii=False))
    fn = _ScrubDeadLetterFn(None)
    fn.setup()
    dead = {"original_data": original, "error": {"type": "X", "message": f"bad {text}"},
            "metadata": {"processor": "schema-validator"}}
    (out,) = list(fn.process(dead))
    _assert_gone(json.dumps(out, ensure_ascii=False), forbidden + [author])
    assert out["metadata"] == dead["metadata"]


# --- examples -----------------------------------------------------------------------------------
def test_hash_is_keyed_hmac_sha256():
    expected = hmac.new(KEY, b"phone:+8801712345678", hashlib.sha256).hexdigest()
    assert HASHER.hash_field("customer_phone", "+880 1712-345678") == expected
    assert PIIHasher(b"another-key-0123456789").hash_field(
        "customer_phone", "+880 1712-345678") != expected


def test_tokens_are_typed():
    out = HASHER.scrub_text("a@b.com 01712345678 4111 1111 1111 1111 1234567890")
    assert [t.split("_")[0] for t in out.split()] == ["EMAIL", "PHONE", "CARD", "NID"]


def test_non_luhn_long_numbers_and_prices_stay():
    text = "Price 1200 taka, order 4111111111111112, qty 3"
    assert HASHER.scrub_text(text) == text


def test_missing_key_refuses_with_clear_message(monkeypatch):
    monkeypatch.delenv("SENSORY_PII_KEY", raising=False)
    monkeypatch.delenv("SENSORY_PII_KEY_FILE", raising=False)
    with pytest.raises(ConfigurationError, match="SENSORY_PII_KEY"):
        load_pii_key()
    with pytest.raises(ConfigurationError, match="at least 16"):
        monkeypatch.setenv("SENSORY_PII_KEY", "short")
        load_pii_key()


def test_key_file_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSORY_PII_KEY", "from-environment-0123456789")
    key_file = tmp_path / "pii.key"
    key_file.write_text("from-file-0123456789abcdef\n")
    assert load_pii_key(str(key_file)) == b"from-file-0123456789abcdef"


def test_shield_transform_in_pipeline(pii_key):
    record = {"platform": "tiktok", "post_id": "1", "author": "Rahim.K",
              "content": "call +880 1712-345678", "hashtags": ["#deal", "01812345678"],
              "_source": {"topic": None, "partition": None, "offset": 1}}
    p = TestPipeline()
    shielded, dead = p | beam.Create([record]) | ShieldPII()
    phone_token = HASHER.token("phone", "01712345678")
    assert_that(shielded | beam.Map(lambda r: (r["author_hash"], r["content"],
                                               r["hashtags"][1].split("_")[0])),
                equal_to([(HASHER.hash_field("author", "rahim.k"), f"call {phone_token}",
                           "PHONE")]), label="shielded")
    assert_that(dead, equal_to([]), label="no_dead_letters")
    scrubbed = (p | "Dead" >> beam.Create([{"original_data": "not json 01712345678",
                                             "error": {}, "metadata": {}}])
                | ScrubDeadLetters())
    assert_that(scrubbed | "Payload" >> beam.Map(lambda d: d["original_data"]),
                equal_to([f"not json {phone_token}"]), label="scrubbed")
    p.run().wait_until_finish()


def test_pii_in_object_keys_of_dead_letters_is_scrubbed(pii_key):
    # An invalid line can carry PII as *keys* of unknown fields; keys are text too.
    fn = _ScrubDeadLetterFn(None)
    fn.setup()
    original = {"platform": "tiktok", "author": "a.b",
                "followers": {"+8801712345678": "x", "probe.key@gmail.com": 1},
                "hashtags": {"01312345678": "a"}}
    (out,) = list(fn.process({"original_data": original, "error": {"message": "post_id"},
                              "metadata": {}}))
    text = json.dumps(out)
    for value in ("+8801712345678", "1712345678", "probe.key@gmail.com", "01312345678"):
        assert value not in text, f"{value} survived in {text}"
    assert sorted(k.split("_")[0] for k in out["original_data"]["followers"]) == [
        "EMAIL", "PHONE"]


_DATETIMES = st.builds(
    lambda moment, sep, seconds, fraction, zone: moment.strftime(f"%Y-%m-%d{sep}%H:%M")
    + (moment.strftime(":%S") + fraction if seconds else "") + zone,
    st.datetimes(min_value=datetime(1000, 1, 1)), st.sampled_from(["T", " "]), st.booleans(),
    st.just(""),
    st.sampled_from(["", "Z", "+00:00", "+06:00", "-0530", "+0000"]))


@settings(max_examples=1000, deadline=None)
@given(_DATETIMES)
def test_date_times_skipped_by_the_scrubber_are_what_the_recognisers_leave(text):
    # Dead-letter scrubbing passes a whole ISO-8601 date-time through untouched; without a
    # fraction of a second that is exactly what the recognisers do with it.
    from sensory.transforms.pii import _ISO_DATETIME
    assert _ISO_DATETIME(text)
    assert PIIHasher(b"k" * 32).scrub_text(text) == text


def test_a_fraction_of_a_second_is_not_read_as_a_phone_number():
    # libphonenumber reads "08.123456" (seconds and microseconds) as a landline number; glued
    # to the minutes by ":" it is part of a time, with or without the date-time skip.
    from sensory.transforms.pii import _scrub_str
    hasher = PIIHasher(b"k" * 32)
    text = "2000-01-01T00:00:08.123456"
    assert hasher.scrub_text(text) == text
    assert _scrub_str(hasher, text) == text
    assert hasher.scrub_text("at 10:08.123456 call 01712345678") == \
        f"at 10:08.123456 call {hasher.token('phone', '+8801712345678')}"


def test_a_phone_number_in_a_date_field_of_a_dead_letter_is_still_hashed(pii_key):
    fn = _ScrubDeadLetterFn(None)
    fn.setup()
    dead = {"original_data": {"posted_at": "01712345678", "created_at": "2025-12-01T00:28:00Z"},
            "error": {"type": "ValidationError", "message": "posted_at: bad"}, "metadata": {}}
    (scrubbed,) = fn.process(dead)
    assert "01712345678" not in json.dumps(scrubbed)
    assert scrubbed["original_data"]["created_at"] == "2025-12-01T00:28:00Z"
