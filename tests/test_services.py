"""The throwaway services of tests/services.py really work: PostGIS, InfluxDB 1.x, Mosquitto."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import psycopg
import pytest
import requests
from pyproj import Geod

from tests.services import InfluxInstance, MosquittoInstance, PostgresInstance

pytestmark = pytest.mark.services

# A 0.01° x 0.01° square near Le Lamentin: about 1.08 km (east) by 1.11 km (north).
SQUARE_WKT = "POLYGON((-61 14.6,-60.99 14.6,-60.99 14.61,-61 14.61,-61 14.6))"
RGAF09_UTM20N = 5490
MQTT_TIMEOUT_S = 10.0


def test_postgis_measures_areas_in_rgaf09(postgres: PostgresInstance) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        (version,) = conn.execute("SELECT postgis_full_version()").fetchone()
        (area_m2,) = conn.execute(
            "SELECT ST_Area(ST_Transform(ST_GeomFromText(%s, 4326), %s))", (SQUARE_WKT, RGAF09_UTM20N)
        ).fetchone()
    lons, lats = zip(*(map(float, p.split()) for p in SQUARE_WKT[9:-2].split(",")), strict=True)
    geodesic_m2 = abs(Geod(ellps="GRS80").polygon_area_perimeter(lons, lats)[0])
    assert "POSTGIS=" in version
    assert 1.15e6 < area_m2 < 1.25e6
    # UTM 20N is 2° from its central meridian here: scale error on areas stays under 0.1 %.
    assert area_m2 == pytest.approx(geodesic_m2, rel=1e-3)


def test_postgres_dsn_names_the_observatory_database(postgres: PostgresInstance) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        (name,) = conn.execute("SELECT current_database()").fetchone()
    assert name == "observatory"
    assert postgres.dsn.startswith("postgresql://postgres@127.0.0.1:")


def _influx_query(influxdb: InfluxInstance, q: str, **params: str) -> dict:
    with requests.post(f"{influxdb.url}/query", params=params, data={"q": q}, timeout=10) as response:
        response.raise_for_status()
        return response.json()


def test_influx_writes_and_reads_back_line_protocol(influxdb: InfluxInstance) -> None:
    _influx_query(influxdb, "CREATE DATABASE t")
    times_s = [1_700_000_000, 1_700_000_060, 1_700_000_120]
    values = [12.5, 13.0, -1.25]
    lines = "\n".join(
        f"air,sensor_id=MQ-AIR-001 pm10_ugm3={v} {t}" for t, v in zip(times_s, values, strict=True)
    )
    with requests.post(
        f"{influxdb.url}/write", params={"db": "t", "precision": "s"}, data=lines.encode(), timeout=10
    ) as response:
        assert response.status_code == 204, response.text

    answer = _influx_query(influxdb, 'SELECT "pm10_ugm3" FROM "air"', db="t", epoch="ns")

    (series,) = answer["results"][0]["series"]
    assert series["columns"] == ["time", "pm10_ugm3"]
    assert series["values"] == [[t * 1_000_000_000, v] for t, v in zip(times_s, values, strict=True)]


class _Client:
    """A paho-mqtt 2 client running its network loop, with received messages in a queue."""

    def __init__(self, broker: MosquittoInstance, client_id: str, clean_session: bool = True) -> None:
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.session_present: bool | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = lambda *args: self._subscribed.set()
        self.paho.on_message = lambda client, userdata, message: self.messages.put(message)
        self.paho.connect(broker.host, broker.port, keepalive=30)
        self.paho.loop_start()
        assert self._connected.wait(MQTT_TIMEOUT_S), f"no CONNACK from {broker.url}"

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        assert not reason_code.is_failure, reason_code
        self.session_present = flags.session_present
        self._connected.set()

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.paho.subscribe(topic, qos=1)
        assert self._subscribed.wait(MQTT_TIMEOUT_S), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.paho.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=MQTT_TIMEOUT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def receive(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=MQTT_TIMEOUT_S)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@contextmanager
def _client(broker: MosquittoInstance, client_id: str, clean_session: bool = True) -> Iterator[_Client]:
    client = _Client(broker, client_id, clean_session)
    try:
        yield client
    finally:
        client.close()


def test_mosquitto_delivers_qos1_messages(mosquitto: MosquittoInstance) -> None:
    with _client(mosquitto, "sub-live") as sub, _client(mosquitto, "pub-live") as pub:
        sub.subscribe("observatory/test/live")
        pub.publish("observatory/test/live", b'{"pm10_ugm3": 12.5}')
        message = sub.receive()
    assert (message.topic, message.payload, message.qos) == (
        "observatory/test/live",
        b'{"pm10_ugm3": 12.5}',
        1,
    )


def test_mosquitto_restart_keeps_queued_messages(mosquitto: MosquittoInstance) -> None:
    topic = "observatory/test/restart"
    with _client(mosquitto, "sub-persistent", clean_session=False) as sub:
        sub.subscribe(topic)
    with _client(mosquitto, "pub-before") as pub:
        pub.publish(topic, b"queued while offline")
    port = mosquitto.port

    mosquitto.restart()

    assert mosquitto.port == port
    with _client(mosquitto, "sub-persistent", clean_session=False) as sub:
        assert sub.session_present
        assert sub.receive().payload == b"queued while offline"
        with _client(mosquitto, "pub-after") as pub:
            pub.publish(topic, b"after restart")
            assert sub.receive().payload == b"after restart"
