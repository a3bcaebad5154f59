"""Scrapers against their protocol fixtures, producing to the real local Kafka with cursors in Redis."""
import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from sensory.scrapers import daraz, facebook, metrics
from sensory.scrapers.cursor import CursorStore, cursor_key
from sensory.scrapers.errors import LayoutChangedError, RobotsDisallowedError
from sensory.scrapers.fixtures.daraz import DarazFixture, daraz_items
from sensory.scrapers.fixtures.graph import GraphFixture
from sensory.scrapers.fixtures.shopify import ShopifyFixture
from sensory.scrapers.fixtures.tiktok import TikTokFixture, tiktok_item
from sensory.scrapers.http import Politeness
from sensory.scrapers.service import ScrapeSettings, scrape
from sensory.scrapers.shopify import ShopifySource
from sensory.scrapers.tiktok import BrowserSettings, TikTokSource

pytestmark = pytest.mark.integration

FAST = Politeness(rate_per_s=50, burst=5, backoff_initial_s=0.05, backoff_max_s=2,
                  timeout_s=10)


def _topic(name):
    return f"test.scrape.{name}.{uuid.uuid4().hex[:8]}"


def _read_all(bootstrap, topic):
    """Every message of ``topic`` as ``(key, value dict)``, from the beginning to the end."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        out = []
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            while True:
                message = consumer.poll(5)
                assert message is not None, f"timed out reading {topic}[{partition}]"
                out.append((message.key().decode(), json.loads(message.value())))
                if message.offset() >= high - 1:
                    break
        return out
    finally:
        consumer.close()


def _settings(kafka_bootstrap, redis_url, topic, **kwargs):
    return ScrapeSettings(bootstrap_servers=kafka_bootstrap, redis_url=redis_url, topic=topic,
                          politeness=kwargs.pop("politeness", FAST), **kwargs)


@pytest.fixture
def shop(stack):
    server = ShopifyFixture(orders=300).start_in_thread()
    yield server
    server.stop()


def _shopify(server, page_limit=100):
    return lambda client: contextlib.nullcontext(ShopifySource(
        client, shop_url=server.base_url, access_token=server.access_token,
        merchant_id="shop-1", page_limit=page_limit))


def _line_keys(records):
    return [(r["order_id"], r["product_id"]) for r in records]


def test_shopify_produces_every_line_once_and_honours_retry_after(shop, kafka_bootstrap,
                                                                  redis_url):
    topic = _topic("shopify")
    shop.faults.throttle_next, shop.faults.retry_after_s = 2, 1.0
    throttled_before = metrics.REGISTRY.get("shopify", metrics.THROTTLED)
    (summary,) = scrape("shopify", _shopify(shop), _settings(kafka_bootstrap, redis_url, topic,
                                                             reset_cursor=True))
    expected = [(str(o["id"]), str(line["product_id"])) for o in shop.orders()
                for line in o["line_items"]]
    produced = _read_all(kafka_bootstrap, topic)
    assert sorted(_line_keys(v for _, v in produced)) == sorted(expected)
    assert all(key == value["order_id"] for key, value in produced)
    assert summary.produced == len(expected) and summary.fetched == 300 and summary.complete
    # Each 429 carried Retry-After: 1.0; the next request came no sooner.
    log = shop.api_requests
    waits = [log[i + 1][0] - log[i][0] for i in range(len(log) - 1) if log[i][2] == 429]
    assert len(waits) == 2 and min(waits) >= 0.95, waits
    assert metrics.REGISTRY.get("shopify", metrics.THROTTLED) - throttled_before == 2
    # A second run finds nothing new: the boundary orders are skipped as duplicates.
    (again,) = scrape("shopify", _shopify(shop), _settings(kafka_bootstrap, redis_url, topic))
    assert again.produced == 0 and again.duplicates == 2
    assert len(_read_all(kafka_bootstrap, topic)) == len(expected)


def test_shopify_kill_mid_backfill_then_restart_loses_and_duplicates_nothing(
        shop, kafka_bootstrap, redis_url):
    topic = _topic("shopify-kill")
    server = ShopifyFixture(orders=600, port=0).start_in_thread()
    server.faults.hang_after = 2  # page 3 never answers: the process is mid-backfill
    redis_key = cursor_key("shopify", f"incremental:{server.base_url.split('//')[1]}")
    with CursorStore(redis_url) as cursors:
        cursors.reset(redis_key)
    env = {**os.environ, "SHOPIFY_ACCESS_TOKEN": server.access_token}
    command = [sys.executable, "-m", "sensory.cli.main", "scrape", "shopify",
               "--shop_url", server.base_url, "--merchant_id", "shop-1", "--topic", topic,
               "--bootstrap_servers", kafka_bootstrap, "--redis_url", redis_url, "--rate", "50"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len(server.api_requests) < 2 or not _resume(redis_url, redis_key):
            assert process.poll() is None, process.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "scraper made no progress"
            time.sleep(0.2)
        time.sleep(0.5)  # let it block in the hanging request
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    before = _read_all(kafka_bootstrap, topic)
    assert 0 < len(before)
    server.faults.hang_after = None
    result = subprocess.run(command, env=env, capture_output=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout.decode()[-2000:]
    assert b"(complete)" in result.stdout
    expected = [(str(o["id"]), str(line["product_id"])) for o in server.orders()
                for line in o["line_items"]]
    after = _line_keys(v for _, v in _read_all(kafka_bootstrap, topic))
    assert sorted(after) == sorted(expected)  # every line exactly once
    server.stop()


def _resume(redis_url, key):
    with CursorStore(redis_url) as cursors:
        return cursors.load(key).resume


def test_daraz_orders_flow_through_the_market_pipeline(stack, kafka_bootstrap, redis_url,
                                                       tmp_path):
    server = DarazFixture(orders=80).start_in_thread()
    server.faults.malformed_ids = {5}
    server.faults.throttle_next, server.faults.retry_after_s = 1, 1
    topic = _topic("daraz")
    try:
        (summary,) = scrape("daraz", lambda client: contextlib.nullcontext(daraz.DarazSource(
            client, api_url=f"{server.base_url}/rest", app_key=server.app_key,
            app_secret=server.app_secret, access_token=server.access_token,
            merchant_id="seller-1", page_limit=30)),
            _settings(kafka_bootstrap, redis_url, topic, reset_cursor=True),
            classify=daraz.classify)
    finally:
        server.stop()
    skus = {(str(70_000_000 + i), row["sku"]) for i in range(80) for row in daraz_items(i)}
    produced = [v for _, v in _read_all(kafka_bootstrap, topic)]
    assert sorted(_line_keys(produced)) == sorted(skus) and summary.produced == len(skus)
    assert server.refused_signatures == 0
    records, dead = _run_pipeline("market", kafka_bootstrap, topic, tmp_path)
    bad = {(k, s) for k, s in skus if k == str(70_000_005)}
    assert {(r["order_id"], r["product_id"]) for r in records} == skus - bad
    assert len(dead) == len(bad) and all("unit_price" in d["error"]["message"] for d in dead)
    text = "\n".join(open(f).read() for f in glob.glob(str(tmp_path / "out-market" / "*.jsonl")))
    assert not any(r["customer_phone"] in text for r in produced if r.get("customer_phone"))


def test_facebook_graph_rate_limit_codes_are_retried_and_every_post_lands(
        stack, kafka_bootstrap, redis_url):
    server = GraphFixture(posts=130, throttle_code=613).start_in_thread()
    server.faults.throttle_next = 2
    server.faults.malformed_ids = {7}
    topic = _topic("facebook")
    try:
        (summary,) = scrape("facebook", lambda client: contextlib.nullcontext(
            facebook.FacebookSource(client, graph_url=f"{server.base_url}/v19.0",
                                    page_id=server.page_id, access_token=server.access_token,
                                    page_limit=50)),
            _settings(kafka_bootstrap, redis_url, topic, reset_cursor=True),
            classify=facebook.classify)
    finally:
        server.stop()
    produced = _read_all(kafka_bootstrap, topic)
    ids = sorted(v["post_id"] for _, v in produced)
    assert ids == sorted(f"{server.page_id}_{100000 + i}" for i in range(130))
    assert summary.pages == 3 and summary.produced == 130
    assert [s for _, _, s in server.api_requests].count(400) == 2
    photo = next(v for _, v in produced if v["post_id"].endswith("_100007"))
    assert photo["content"] is None  # produced anyway; the validator dead-letters it


@pytest.fixture(scope="module")
def tiktok_site():
    server = TikTokFixture(posts_per_target=40).start_in_thread()
    yield server
    server.stop()


def _tiktok(server, targets, contexts=1):
    return lambda client: contextlib.nullcontext(TikTokSource(
        client, base_url=server.base_url, targets=targets,
        settings=BrowserSettings(contexts=contexts, page_timeout_s=8, scroll_timeout_s=3)))


def test_tiktok_scrolls_every_item_of_each_target_and_the_social_pipeline_takes_them(
        tiktok_site, kafka_bootstrap, redis_url, tmp_path):
    topic = _topic("tiktok")
    tiktok_site.faults.throttle_next, tiktok_site.faults.retry_after_s = 1, 1
    targets = ["@dhakagadgets", "#eid"]
    (summary,) = scrape("tiktok", _tiktok(tiktok_site, targets, contexts=2),
                        _settings(kafka_bootstrap, redis_url, topic, reset_cursor=True))
    expected = sorted(tiktok_item(t, i)["id"] for t in targets for i in range(40))
    produced = [v for _, v in _read_all(kafka_bootstrap, topic)]
    assert sorted(v["post_id"] for v in produced) == expected
    assert summary.pages == 2 and summary.complete
    assert {v["platform"] for v in produced} == {"tiktok"}
    records, dead = _run_pipeline("social", kafka_bootstrap, topic, tmp_path)
    assert sorted(r["post_id"] for r in records) == expected and not dead
    assert all("author" not in r and r["author_hash"] for r in records)


def _run_pipeline(kind, kafka_bootstrap, topic, tmp_path):
    """``sensory run KIND`` over ``topic`` to files; returns (records, dead letters)."""
    out = tmp_path / f"out-{kind}"
    env = {**os.environ, "SENSORY_PII_KEY": "scrapers-test-key-0123456789abcdef"}
    result = subprocess.run(
        [sys.executable, "-m", "sensory.cli.main", "run", kind,
         f"--bootstrap_servers={kafka_bootstrap}", f"--topics={topic}",
         f"--consumer_group=g-{topic}", "--read_until_end", f"--output_dir={out}",
         "--no_weather", "--no_embeddings"], capture_output=True, env=env, timeout=300,
        check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    records = [json.loads(l) for f in glob.glob(str(out / "records-*.jsonl")) for l in open(f)]
    dead = [json.loads(l) for f in glob.glob(str(out / "dead_letters-*.jsonl")) for l in open(f)]
    return records, dead


def test_tiktok_changed_layout_stops_naming_the_selector(tiktok_site, kafka_bootstrap,
                                                         redis_url):
    tiktok_site.faults.layout_changed = True
    try:
        with pytest.raises(LayoutChangedError) as error:
            scrape("tiktok", _tiktok(tiktok_site, ["@layoutshop"]),
                   _settings(kafka_bootstrap, redis_url, _topic("tiktok-layout"),
                             reset_cursor=True,
                             politeness=Politeness(rate_per_s=50, burst=5, max_attempts=1)))
    finally:
        tiktok_site.faults.layout_changed = False
    assert '[data-e2e="user-post-item"]' in str(error.value)


def test_tiktok_honours_robots_txt(tiktok_site, kafka_bootstrap, redis_url):
    source = _tiktok(tiktok_site, ["@someone"])

    def private(client):
        src = source(client).enter_result
        src._urls = [f"{tiktok_site.base_url}/private/feed"]  # a path robots.txt disallows
        return contextlib.nullcontext(src)

    with pytest.raises(RobotsDisallowedError):
        scrape("tiktok", private, _settings(kafka_bootstrap, redis_url, _topic("tiktok-robots"),
                                            reset_cursor=True))


def test_cli_every_runs_on_schedule_and_prints_a_summary_per_run(stack, kafka_bootstrap,
                                                                 redis_url, monkeypatch):
    from click.testing import CliRunner
    from sensory.cli.main import main
    server = DarazFixture(orders=30).start_in_thread()
    monkeypatch.setenv("DARAZ_APP_SECRET", server.app_secret)
    monkeypatch.setenv("DARAZ_ACCESS_TOKEN", server.access_token)
    topic = _topic("daraz-cli")
    try:
        result = CliRunner().invoke(main, [
            "scrape", "daraz", "--every", "1s", "--runs", "2", "--reset_cursor",
            "--api_url", f"{server.base_url}/rest", "--app_key", server.app_key,
            "--seller_id", "seller-cli", "--topic", topic, "--rate", "50",
            "--bootstrap_servers", kafka_bootstrap, "--redis_url", redis_url])
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    lines = [l for l in result.output.splitlines() if l.startswith("scrape daraz:")]
    assert len(lines) == 2 and "produced=0" in lines[1] and "(complete)" in lines[1]
    assert server.app_secret not in result.output and server.access_token not in result.output


def test_facebook_browser_mode_reads_every_rendered_post_and_names_a_broken_selector(
        stack, kafka_bootstrap, redis_url):
    from sensory.scrapers.facebook_browser import ARTICLE, FacebookPageSource
    server = GraphFixture(posts=45).start_in_thread()
    server.faults.throttle_next = 1  # the first page load gets 429 + Retry-After: 1
    topic = _topic("facebook-browser")

    def source(client):
        return contextlib.nullcontext(FacebookPageSource(
            client, base_url=server.base_url, page_name=server.page_name,
            page_id=server.page_id, settings=BrowserSettings(page_timeout_s=8,
                                                             scroll_timeout_s=3)))
    try:
        (summary,) = scrape("facebook", source,
                            _settings(kafka_bootstrap, redis_url, topic, reset_cursor=True))
        ids = sorted(v["post_id"] for _, v in _read_all(kafka_bootstrap, topic))
        assert ids == sorted(f"{server.page_id}_{100000 + i}" for i in range(45))
        assert summary.complete and [s for *_, s in server.api_requests].count(429) == 1
        server.faults.layout_changed = True
        with pytest.raises(LayoutChangedError) as error:
            scrape("facebook", source, _settings(kafka_bootstrap, redis_url, topic,
                                                 reset_cursor=True))
        assert ARTICLE in str(error.value)
    finally:
        server.stop()
