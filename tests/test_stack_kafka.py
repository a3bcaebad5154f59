"""The Kafka broker's launcher (no broker needed)."""
import base64
import uuid

from sensory.stack import kafka


def test_cluster_id_never_starts_with_a_dash_and_is_kafkas_uuid_form(monkeypatch):
    # 0xF8 as the first byte encodes to "-" in URL-safe base64: the id a fresh install once drew.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).startswith(b"-")

    cluster_id = kafka._cluster_id()  # pylint: disable=protected-access

    assert cluster_id == base64.urlsafe_b64encode(b"\x01" * 16).rstrip(b"=").decode()
    assert len(cluster_id) == 22


def test_cluster_ids_drawn_at_random_are_all_valid():
    ids = {kafka._cluster_id() for _ in range(2000)}  # pylint: disable=protected-access
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
