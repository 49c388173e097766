"""The live MQTT feed against a real Mosquitto: batches stored once, nothing acknowledged is lost."""

from __future__ import annotations

import json
import uuid

import paho.mqtt.client as mqtt
import pytest

from observatory.errors import ServiceError
from observatory.sources.mqtt import Message, MqttSubscriber, decode_payloads, wait_until, warehouse_sink
from observatory.warehouse.store import Warehouse

T0_NS = 1_763_700_000_000_000_000  # 2025-11-21T04:40:00Z


def lp_message(i: int) -> bytes:
    """Telegraf-style line protocol: three sensors, one message a minute."""
    t = T0_NS + i * 60_000_000_000
    return (
        f"weather,sensor_id=mq-wx-fdf,commune=97209 temperature={26 + i % 5 / 10},humidity={75 + i % 7}i {t}\n"
        f"air,sensor_id=mq-air-lamentin,commune=97213 pm10={18 + i % 9},no2={12.5 + i % 3} {t}\n"
        f'grid,sensor_id=mq-grid-bellefontaine,site=Bellefontaine\\ B state="normal",freq_hz=50.0{i % 3} {t}\n'
    ).encode()


def publisher(broker) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.reconnect_delay_set(1, 2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, payloads: list[bytes]) -> None:
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)


@pytest.fixture
def warehouse(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        yield wh


def _numeric(warehouse) -> int:
    return warehouse.counts()["readings"]


def test_messages_are_stored_once_in_small_batches(mosquitto, warehouse):
    topic = f"telegraf/{uuid.uuid4().hex[:6]}/martinique"
    pub = publisher(mosquitto)
    try:
        with MqttSubscriber(
            mosquitto.url, [topic], warehouse_sink(warehouse), client_id=f"obs-{uuid.uuid4().hex[:6]}"
        ) as sub:
            publish(pub, topic, [lp_message(i) for i in range(120)])
            assert wait_until(lambda: sub.stored_messages == 120, 30), sub.errors
        assert _numeric(warehouse) == 120 * 5
        assert warehouse.counts()["text_readings"] == 120
        assert warehouse.sql("SELECT count(*) AS n FROM ingest_log")["n"][0] >= 120 // 20
        tags = warehouse.sql("SELECT tags FROM series WHERE sensor_id = 'mq-grid-bellefontaine'")["tags"][0]
        assert json.loads(tags)["site"] == "Bellefontaine B"
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_broker_restart_loses_no_message(mosquitto, warehouse):
    topic = f"telegraf/{uuid.uuid4().hex[:6]}/restart"
    client_id = f"obs-{uuid.uuid4().hex[:6]}"
    sub = MqttSubscriber(mosquitto.url, [topic], warehouse_sink(warehouse), client_id=client_id).start()
    pub = publisher(mosquitto)
    try:
        publish(pub, topic, [lp_message(i) for i in range(40)])
        assert wait_until(lambda: sub.stored_messages == 40, 30)
        mosquitto.restart()
        assert wait_until(lambda: pub.is_connected(), 20) and sub.wait_connected(20)
        publish(pub, topic, [lp_message(i) for i in range(40, 80)])
        assert wait_until(lambda: sub.stored_messages >= 80, 30), sub.errors
    finally:
        sub.stop()
        pub.loop_stop()
        pub.disconnect()
    assert _numeric(warehouse) == 80 * 5


def test_messages_queued_while_away_survive_a_broker_restart(mosquitto, warehouse):
    topic = f"telegraf/{uuid.uuid4().hex[:6]}/away"
    client_id = f"obs-{uuid.uuid4().hex[:6]}"
    MqttSubscriber(mosquitto.url, [topic], warehouse_sink(warehouse), client_id=client_id).start().stop()
    pub = publisher(mosquitto)
    try:
        publish(pub, topic, [lp_message(i) for i in range(30)])
    finally:
        pub.loop_stop()
        pub.disconnect()
    mosquitto.restart()  # the broker acknowledged them: they must outlive it
    with MqttSubscriber(mosquitto.url, [topic], warehouse_sink(warehouse), client_id=client_id) as sub:
        assert wait_until(lambda: sub.stored_messages == 30, 30), sub.errors
    assert _numeric(warehouse) == 30 * 5


def test_a_failing_store_is_retried_not_dropped(mosquitto, warehouse):
    topic = f"telegraf/{uuid.uuid4().hex[:6]}/retry"
    store = warehouse_sink(warehouse)
    calls = {"n": 0}

    def flaky(messages, batch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        store(messages, batch)

    pub = publisher(mosquitto)
    try:
        with MqttSubscriber(mosquitto.url, [topic], flaky, client_id=f"obs-{uuid.uuid4().hex[:6]}") as sub:
            publish(pub, topic, [lp_message(i) for i in range(10)])
            assert wait_until(lambda: sub.stored_messages == 10, 30)
        assert isinstance(sub.errors[0], OSError)
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert _numeric(warehouse) == 10 * 5


def test_json_and_bad_payloads_keep_the_good_rows():
    good = {
        "name": "air",
        "tags": {"sensor_id": "mq-air-fdf"},
        "fields": {"pm25": 9.5, "state": "ok"},
        "timestamp": 1763700000,
    }
    batch = decode_payloads(
        [
            Message("telegraf/json", json.dumps({"metrics": [good, {"name": "air"}]}).encode(), 1, 1),
            Message("telegraf/lp", lp_message(0) + b"weather,sensor_id=x temperature=\n", 2, 1),
            Message("telegraf/bad", b"{not json", 3, 1),
        ]
    )
    assert batch.readings.height == 1 + 5 and batch.text_readings.height == 2
    assert sorted(batch.rejects["source"].to_list()) == [
        "mqtt:telegraf/bad",
        "mqtt:telegraf/json",
        "mqtt:telegraf/lp",
    ]
    lp_reject = batch.rejects.filter(batch.rejects["source"] == "mqtt:telegraf/lp")
    assert lp_reject["line"][0] == 4


def test_a_dead_broker_is_named(tmp_path):
    from tests.services import free_port

    url = f"mqtt://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceError, match=url):
        MqttSubscriber(url, ["x"], lambda m, b: None).start(timeout_s=2)
