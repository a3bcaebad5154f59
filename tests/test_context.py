"""AddContext: product category with confidence and Asia/Dhaka temporal context."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from hypothesis import given, settings, strategies as st

from sensory.transforms.context import AddContext, CategoryPatterns, _compile, _separable, \
    _word_pattern, categorize, load_category_table, temporal_context

PATTERNS = _compile(load_category_table())


@pytest.mark.parametrize("text,category", [
    ("Brand new Samsung Galaxy A15, 8GB RAM", "smartphone"),
    ("MacBook Air M2 for office", "laptop"),
    ("Eid collection: Jamdani saree and Panjabi", "fashion"),
    ("Wireless earbuds + power bank combo", "electronics"),
    ("Rice cooker and non-stick cookware", "home"),
    ("Good morning Dhaka!", "general"),
    ("ফোন কিনুন", "general"),
])
def test_categories(text, category):
    assert categorize(text, PATTERNS)["name"] == category


def test_confidence_rises_with_hits_and_falls_with_ambiguity():
    one = categorize("iphone", PATTERNS)["confidence"]
    two = categorize("iphone android", PATTERNS)["confidence"]
    mixed = categorize("iphone with earbuds", PATTERNS)["confidence"]
    assert 0 < mixed < one < two <= 1.0
    assert categorize("nothing here", PATTERNS)["confidence"] == 0.0


def test_keywords_match_whole_words_only():
    assert categorize("telephone booth", PATTERNS)["name"] == "general"
    assert categorize("fantastic", PATTERNS)["name"] == "general"  # not "fan"


@pytest.mark.parametrize("utc,hour,day,weekend,business,season", [
    ("2025-12-19T05:30:00Z", 11, "Friday", True, False, "winter"),
    ("2025-07-06T03:00:00Z", 9, "Sunday", False, True, "monsoon"),
    ("2025-04-10T12:30:00Z", 18, "Thursday", False, False, "summer"),
    ("2025-10-31T20:00:00Z", 2, "Saturday", True, False, "autumn"),  # next day in Dhaka
    ("2025-02-28T17:59:59Z", 23, "Friday", True, False, "winter"),
    ("2025-03-01T00:00:00Z", 6, "Saturday", True, False, "summer"),
])
def test_temporal_context_in_dhaka(utc, hour, day, weekend, business, season):
    ctx = temporal_context(utc)
    assert (ctx["hour"], ctx["day_of_week"], ctx["is_weekend"], ctx["is_business_hours"],
            ctx["season"]) == (hour, day, weekend, business, season)


def test_custom_table_and_bad_table():
    table = {"grocery": ["rice", "dal"], "general": []}
    assert categorize("Miniket rice 5kg", _compile(table))["name"] == "grocery"
    with pytest.raises(ValueError):
        AddContext(categories={})


def test_add_context_transform_and_dead_letters():
    good = {"_record_type": "market", "product_name": "Xiaomi Redmi Note 13",
            "created_at": "2025-12-20T10:30:00Z", "_source": {"offset": 1}}
    broken = {"_record_type": "market", "product_name": "x", "created_at": "not-a-time",
              "_source": {"offset": 2}}
    with TestPipeline() as p:
        records, dead = p | beam.Create([good, broken]) | AddContext()
        assert_that(records | beam.Map(lambda r: (r["context"]["category"]["name"],
                                                  r["context"]["temporal"]["hour"])),
                    equal_to([("smartphone", 16)]), label="records")
        assert_that(dead | "Why" >> beam.Map(lambda d: (d["metadata"]["processor"],
                                                        d["metadata"]["offset"])),
                    equal_to([("context-enricher", 2)]), label="dead")


_TOKENS = st.sampled_from(["phone", "mobile", "case", "pro", "max", "t", "shirt", "ফোন", "a1"])
_KEYWORD = st.builds(lambda words, joiner, tail: joiner.join(words) + tail,
                     st.lists(_TOKENS, min_size=1, max_size=3), st.sampled_from([" ", "-"]),
                     st.sampled_from(["", "", "+", " "]))
_TABLES = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                          st.lists(_KEYWORD, max_size=4), min_size=1, max_size=4)


@settings(max_examples=500, deadline=None)
@given(table=_TABLES, text=st.lists(st.one_of(_TOKENS, st.sampled_from([" ", "-", "+", ". ",
                                                                         "x", "Phone"])),
                                    max_size=12).map("".join))
def test_one_scan_finds_what_a_scan_per_category_finds(table, text):
    # The reference: one scan per category, as the stage did before the single scan.
    lowered = text.lower()
    expected = {name: sorted(set(_word_pattern(words).findall(lowered)))
                for name, words in table.items() if words}
    expected = {name: words for name, words in expected.items() if words}
    assert CategoryPatterns(table).hits(lowered) == expected


def test_bundled_table_is_scanned_once():
    # The bundled table must keep the fast path: no word shared between two categories.
    assert _separable(load_category_table())
