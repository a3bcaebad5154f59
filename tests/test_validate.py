"""ValidateRecords: every input comes out exactly once, as a record or a dead letter."""
import json

import pytest

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings, strategies as st

from sensory.messages import SourceMessage
from sensory.transforms.validate import MAX_DEPTH, ValidateRecords, parse_record, _Rejected, \
    _may_have_structure_problem, _parse_fast, _parse_strict, _structure_problem
from sensory.models import SocialPost

GOOD = {"platform": "facebook", "post_id": "fb-1", "author_username": "rahim",
        "content": "New saree collection", "engagement_count": "7",
        "timestamp": "2025-12-20T10:30:00"}


def _reason(dead):
    return dead["metadata"]["processor"], dead["error"]["type"]


def test_records_and_dead_letters_with_metadata():
    messages = [
        SourceMessage(json.dumps(GOOD).encode(), "source.social.facebook", 3, 41),
        SourceMessage(b"\xff\xfe not utf8", "source.social.facebook", 3, 42),
        SourceMessage(b"{not json", "source.social.facebook", 3, 43),
        SourceMessage(b"[1, 2]", "source.social.facebook", 3, 44),
        SourceMessage(json.dumps({**GOOD, "engagement_count": "lots"}).encode(),
                      "source.social.facebook", 3, 45),
    ]
    p = TestPipeline()
    records, dead = p | beam.Create(messages) | ValidateRecords(kind="social")
    assert_that(records | "Ids" >> beam.Map(lambda r: (r["post_id"], r["author"],
                                                       r["_source"]["offset"],
                                                       r["_record_type"])),
                equal_to([("fb-1", "rahim", 41, "social")]), label="records")
    assert_that(dead | "Reasons" >> beam.Map(lambda d: (d["metadata"]["offset"],
                                                        d["metadata"]["source_topic"],
                                                        *_reason(d))),
                equal_to([(42, "source.social.facebook", "schema-validator", "DecodeError"),
                          (43, "source.social.facebook", "schema-validator", "ParseError"),
                          (44, "source.social.facebook", "schema-validator", "NotAnObject"),
                          (45, "source.social.facebook", "schema-validator",
                           "ValidationError")]),
                label="dead_letters")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("sensory.schema_validator"))["counters"]}
    assert counters == {"received": 5, "ok": 1, "dead_lettered": 4}


def test_message_names_field_and_hides_value():
    secret = "01712345678"
    try:
        parse_record(json.dumps({**GOOD, "posted_at": secret, "timestamp": None}), SocialPost)
    except _Rejected as rejected:
        assert str(rejected).startswith("posted_at:"), str(rejected)
        assert secret not in str(rejected)
    else:
        raise AssertionError("expected a rejection")


def test_market_total_price_message():
    from sensory.models import MarketOrder
    order = {"platform": "daraz", "order_id": "o", "merchant_id": "m", "product_id": "p",
             "product_name": "n", "quantity": 2, "price": 10, "total_price": 25,
             "order_status": "paid", "created_at": "2025-01-01T00:00:00"}
    try:
        parse_record(json.dumps(order), MarketOrder)
    except _Rejected as rejected:
        assert rejected.error_type == "ValidationError"
        assert str(rejected).startswith("total_price:"), str(rejected)


_raw = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=80),
    st.builds(lambda d: json.dumps(d), st.dictionaries(
        st.sampled_from(sorted(GOOD) + ["posted_at", "author", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=12), st.floats()), max_size=8)),
    st.builds(lambda d: json.dumps({**GOOD, **d}), st.dictionaries(
        st.sampled_from(sorted(GOOD)), st.one_of(st.none(), st.integers(-3, 3),
                                                 st.text(max_size=8)), max_size=3)),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_raw, min_size=1, max_size=30))
def test_arbitrary_input_never_crashes_and_comes_out_once(values):
    messages = [SourceMessage(v if isinstance(v, bytes) else v.encode("utf-8", "surrogatepass"),
                              offset=i) for i, v in enumerate(values)]
    with TestPipeline() as p:
        records, dead = p | beam.Create(messages) | ValidateRecords(kind="social")
        offsets = (
            (records | "RecordOffsets" >> beam.Map(lambda r: r["_source"]["offset"]),
             dead | "DeadOffsets" >> beam.Map(lambda d: d["metadata"]["offset"]))
            | beam.Flatten())
        assert_that(offsets, equal_to(list(range(len(messages)))), label="each_once")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_parse_record_only_ever_rejects(value):
    try:
        record = parse_record(value, SocialPost)
    except _Rejected as rejected:
        assert rejected.error_type in {"DecodeError", "ParseError", "NotAnObject",
                                       "ValidationError"}
    else:
        assert SocialPost.model_validate(record)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=80)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_JSON_VALUES, wrap=st.integers(0, 80), ascii_only=st.booleans(),
       as_bytes=st.booleans())
def test_structure_precheck_never_hides_a_problem(value, wrap, ascii_only, as_bytes):
    # The cheap text test may only skip the walk where the walk would find nothing.
    for _ in range(wrap):
        value = {"k": value} if wrap % 2 else [value]
    text = json.dumps(value, ensure_ascii=ascii_only)
    if as_bytes:
        try:
            text = text.encode("utf-8").decode("utf-8")
        except UnicodeEncodeError:
            return  # bytes cannot carry a raw lone surrogate
    if _structure_problem(json.loads(text), MAX_DEPTH) is not None:
        assert _may_have_structure_problem(text, as_bytes)


def test_structure_precheck_sends_deep_and_surrogate_messages_to_the_walk():
    deep = '{"post_id": ' + "[" * 70 + "]" * 70 + "}"
    with pytest.raises(_Rejected, match="deeper than 64"):
        parse_record(deep.encode(), SocialPost)
    surrogate = '{"post_id": "\\ud800"}'
    with pytest.raises(_Rejected, match="surrogate"):
        parse_record(surrogate.encode(), SocialPost)
    with pytest.raises(_Rejected, match="surrogate"):
        parse_record('{"post_id": "\ud800"}', SocialPost)


_WS = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])
_SCALAR_TEXT = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**63 - 3, max_value=2**70).map(str),
    st.integers(min_value=-2**70, max_value=-2**63 + 3).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e309", "-1E400", "NaN", "Infinity", "1.5e-400", "-0", "-0.0", "0.1e1",
                     "true", "null", "tru", "01", "1.", '"\\ud800"', '"\\ud83d\\ude00"',
                     '"say \\"hi\\": ok"', '"a":', '"\u00e9\u09e7"', '"\x01"', "[]", "{}"]),
    st.text(max_size=8).map(lambda t: json.dumps(t, ensure_ascii=False)),
)


def _object_text(children):
    pair = st.tuples(st.sampled_from(["a", "b", "post_id", "k\\\"", "é"]), _WS, _WS, children)
    return st.lists(pair, max_size=5).map(lambda pairs: "{" + ",".join(
        f"{json.dumps(k)}{w1}:{w2}{v}" for k, w1, w2, v in pairs) + "}")


_JSON_TEXT = st.recursive(
    _SCALAR_TEXT, lambda children: _object_text(children)
    | st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    max_leaves=30)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_object_text(_JSON_TEXT), prefix=st.sampled_from(["", " ", "\ufeff", "\n"]),
       suffix=st.sampled_from(["", " ", "\n", " x", ","]), wrap=st.integers(0, 70),
       as_bytes=st.booleans())
def test_fast_parse_agrees_with_the_strict_parser(body, prefix, suffix, wrap, as_bytes):
    # The fast path may decline any message, but what it accepts must be exactly what the
    # strict parser makes of it: same values, same types (1 is not 1.0), same key order.
    text = prefix + "[" * wrap + body + "]" * wrap + suffix if wrap % 3 == 1 else \
        prefix + '{"w": ' * wrap + body + "}" * wrap + suffix
    value = text.encode("utf-8") if as_bytes else text
    fast = _parse_fast(value)
    if fast is None:
        return
    assert repr(fast) == repr(_parse_strict(value))


def test_fast_parse_declines_what_orjson_reads_differently():
    assert _parse_fast(b'{"a": 1, "a": 2}') is None            # duplicate key
    assert _parse_fast(b'{"o": {"a": 1, "a": 2}}') is None     # duplicate key, nested
    assert _parse_fast(b'{"a": 123456789012345678901234567890}') is None  # > 64 bits
    assert _parse_fast(b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}") is None  # too deep
    assert _parse_fast(b'{"a": 1}') == {"a": 1}
    assert _parse_fast('{"a": "say \\": ok", "b": 2}') is None  # a colon after an escaped quote
    with pytest.raises(_Rejected, match="duplicate key"):
        parse_record(json.dumps(GOOD)[:-1].encode() + b', "post_id": "x"}', SocialPost)
