"""Live MQTT feed (Mosquitto here, EMQX in production): line protocol or JSON messages to Batches.

Telegraf's ``mqtt_consumer`` conventions: a payload is either InfluxDB line protocol
(``data_format = "influx"``, one or more lines) or Telegraf JSON (``{"name", "tags", "fields",
"timestamp"}`` or ``{"metrics": [...]}``, timestamp in seconds unless told otherwise).

No message is lost once the broker has it: the subscriber uses a persistent session (fixed
client id, clean session off) at QoS 1 and acknowledges a message only after the sink has
stored the batch holding it. A message the process received but did not store before a crash
or a broker restart is delivered again, and the warehouse's idempotent ingest keeps one copy.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import polars as pl

from observatory.errors import DataFormatError, ParameterError, ServiceError, did_you_mean
from observatory.sources.base import (
    READINGS_SCHEMA,
    REJECT_TEXT_MAX_CHARS,
    SERIES_SCHEMA,
    TEXT_READINGS_SCHEMA,
    Batch,
    empty,
    rejects_frame,
)
from observatory.sources.ngsi_ld import as_float, checked_time_ns, json_text, load_json

DEFAULT_QOS = 1
# Mosquitto sends at most 20 unacknowledged QoS 1 messages to a client (max_inflight_messages):
# a batch therefore closes at 20 messages, or after BATCH_SECONDS, whichever comes first.
DEFAULT_BATCH_MESSAGES = 20
DEFAULT_BATCH_SECONDS = 0.5
JSON_TIMESTAMP_UNITS_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
PAYLOAD_FORMATS = ("auto", "influx", "json")


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


def decode_payloads(
    messages: Sequence[Message], payload_format: str = "auto", precision: str = "ns", json_units: str = "s"
) -> Batch:
    """Decode ``messages`` into one canonical Batch; a bad message or line goes to rejects,
    named by its topic and line, and the rest is kept."""
    if payload_format not in PAYLOAD_FORMATS:
        raise ParameterError(f"unknown payload format {payload_format!r}", parameter="payload_format")
    if json_units not in JSON_TIMESTAMP_UNITS_NS:
        raise ParameterError(
            f"unknown JSON timestamp unit {json_units!r}",
            parameter="json_units",
            hint=did_you_mean(str(json_units), JSON_TIMESTAMP_UNITS_NS),
        )
    parts, rejects = [], []
    for message in messages:
        source = f"mqtt:{message.topic}"
        kind = payload_format
        if kind == "auto":
            kind = "json" if message.payload.lstrip()[:1] in (b"{", b"[") else "influx"
        try:
            if kind == "json":
                batch, bad = _decode_json(message.payload, source, json_units)
            else:
                batch, bad = _decode_line_protocol(message.payload, source, precision)
        except DataFormatError as exc:
            # A payload no line of which can be read (a damaged gzip stream): rejected, since a
            # batch that raises is retried forever and would hold back every message after it.
            text = message.payload[:REJECT_TEXT_MAX_CHARS].decode("utf-8", "backslashreplace")
            batch, bad = Batch(), [rejects_frame(source, [(exc.line or 1, exc.message, text)])]
        parts.append(batch)
        rejects += bad
    return Batch(
        readings=pl.concat([p.readings for p in parts]) if parts else empty(READINGS_SCHEMA),
        text_readings=pl.concat([p.text_readings for p in parts]) if parts else empty(TEXT_READINGS_SCHEMA),
        series=pl.concat([p.series for p in parts]).unique() if parts else empty(SERIES_SCHEMA),
        rejects=pl.concat(rejects) if rejects else rejects_frame("", []),
    )


def _decode_line_protocol(payload: bytes, source: str, precision: str) -> tuple[Batch, list[pl.DataFrame]]:
    from observatory.sources.line_protocol import parse_lines

    result = parse_lines(payload, precision=precision)
    bad = (
        [rejects_frame(source, [(r.line_no, r.reason, r.text) for r in result.rejects])]
        if result.rejects
        else []
    )
    batch = Batch(
        readings=result.readings,
        text_readings=result.text_readings,
        series=result.series.select(list(SERIES_SCHEMA)),
    )
    return batch, bad


def _decode_json(payload: bytes, source: str, units: str) -> tuple[Batch, list[pl.DataFrame]]:
    unit_ns = JSON_TIMESTAMP_UNITS_NS[units]
    try:
        document = load_json(payload)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return Batch(), [
            rejects_frame(source, [(1, f"invalid JSON: {exc}", payload.decode(errors="replace"))])
        ]
    metrics = document.get("metrics", [document]) if isinstance(document, dict) else document
    numeric, text, series, bad = [], [], [], []
    for index, metric in enumerate(metrics if isinstance(metrics, list) else [metrics], start=1):
        try:
            name, tags, fields, time_ns = _metric(metric, unit_ns)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            bad.append((index, f"not a Telegraf JSON metric: {exc}", json_text(metric)))
            continue
        sensor = str(tags.get("sensor_id") or ",".join([name, *(f"{k}={tags[k]}" for k in sorted(tags))]))
        series.append((sensor, name, json.dumps(tags, sort_keys=True)))
        for field, value in fields.items():
            row = (time_ns, sensor, name, field)
            if isinstance(value, str):
                text.append((*row, value))
            elif not isinstance(value, bool | int | float):
                text.append((*row, json_text(value)))
            elif math.isfinite(as_float(value)):
                numeric.append((*row, as_float(value)))
            else:
                bad.append((index, f"field {field!r}: {value!r} is not a finite number", json_text(metric)))
    return (
        Batch(
            readings=_frame(numeric, READINGS_SCHEMA),
            text_readings=_frame(text, TEXT_READINGS_SCHEMA),
            series=pl.DataFrame(series, schema=SERIES_SCHEMA, orient="row"),
        ),
        [rejects_frame(source, bad)] if bad else [],
    )


def _metric(metric: Any, unit_ns: int) -> tuple[str, dict, dict, int]:
    """name, tags, fields and time (ns) of a Telegraf JSON metric; KeyError, TypeError or
    ValueError say what is wrong with it."""
    if not isinstance(metric, dict):
        raise TypeError(f"a metric is a JSON object, not {type(metric).__name__}")
    name, tags, fields = metric["name"], metric.get("tags", {}), metric["fields"]
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty string")
    if not isinstance(fields, dict) or not isinstance(tags, dict) or not fields:
        raise TypeError("fields and tags must be objects, fields not empty")
    stamp = metric["timestamp"]
    if isinstance(stamp, bool) or not isinstance(stamp, int | float | str):
        raise TypeError(f"timestamp {json_text(stamp)[:40]} is not a number")
    return name, tags, fields, checked_time_ns(int(stamp) * unit_ns, stamp)


def _frame(rows: list[tuple], schema: dict) -> pl.DataFrame:
    raw = pl.DataFrame(rows, schema={**schema, "time": pl.Int64}, orient="row")
    return raw.with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))


def batch_digest(messages: Sequence[Message]) -> str:
    """sha256 over the topics and payloads of a batch: the same messages give the same digest."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(message.topic.encode() + b"\0" + message.payload + b"\0")
    return digest.hexdigest()


class MqttSubscriber:
    """Subscribe to ``topics`` and hand each batch of messages to ``sink(messages, batch)``,
    acknowledging the messages only once ``sink`` returned.

    ``sink`` runs on the subscriber's own thread; if it raises, the batch is kept and offered
    again (the error is recorded in ``errors``), so nothing received is dropped.
    """

    def __init__(
        self,
        url: str,
        topics: Sequence[str],
        sink: Callable[[Sequence[Message], Batch], None],
        client_id: str = "observatory-ingest",
        payload_format: str = "auto",
        precision: str = "ns",
        batch_messages: int = DEFAULT_BATCH_MESSAGES,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
            raise ParameterError(f"{url!r} is not an mqtt://host:port URL", parameter="url")
        if not topics:
            raise ParameterError("no topic to subscribe to", parameter="topics")
        if payload_format not in PAYLOAD_FORMATS:
            raise ParameterError(f"unknown payload format {payload_format!r}", parameter="payload_format")
        self.url, self.host, self.port = url, parsed.hostname, parsed.port or 1883
        self.topics, self.sink = list(topics), sink
        self.payload_format, self.precision = payload_format, precision
        self.batch_messages, self.batch_seconds = batch_messages, batch_seconds
        self.errors: list[BaseException] = []
        self.stored_messages = 0
        self._pending: list[Message] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *args: self._connected.clear()
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-flush", daemon=True)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.errors.append(ServiceError(f"broker refused the connection: {reason_code}", parameter="url"))
            return
        client.subscribe([(topic, DEFAULT_QOS) for topic in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # Ready only once the broker confirmed the subscription: before that, a message
        # published to the topic would not be queued for this session.
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            self.errors.append(ServiceError(f"subscription refused: {failed}", parameter="topics"))
            return
        self._connected.set()

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self._pending.append(Message(message.topic, bytes(message.payload), message.mid, message.qos))

    def start(self, timeout_s: float = 10.0) -> MqttSubscriber:
        """Connect, subscribe and start receiving; ServiceError if the broker cannot be reached."""
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise ServiceError(f"cannot reach the MQTT broker at {self.url}: {exc}", parameter="url") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self.stop()
            raise ServiceError(
                f"no answer from the MQTT broker at {self.url} in {timeout_s} s", parameter="url"
            )
        self._flusher.start()
        return self

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.batch_seconds)
            self.flush()

    def flush(self) -> int:
        """Store what has arrived (in batches of ``batch_messages``), then acknowledge it."""
        stored = 0
        while True:
            with self._lock:
                messages = self._pending[: self.batch_messages]
            if not messages:
                return stored
            try:
                batch = decode_payloads(messages, self.payload_format, self.precision)
                self.sink(messages, batch)
            except Exception as exc:  # noqa: BLE001 - kept and retried, never dropped
                self.errors.append(exc)
                return stored
            with self._lock:
                del self._pending[: len(messages)]
            for message in messages:
                self._client.ack(message.mid, message.qos)
            stored += len(messages)
            self.stored_messages += len(messages)

    def stop(self) -> None:
        """Store what is pending, then disconnect (the session stays on the broker)."""
        self._stop.set()
        if self._flusher.is_alive():
            self._flusher.join(timeout=10)
        if self._connected.is_set():
            self.flush()
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttSubscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def warehouse_sink(warehouse) -> Callable[[Sequence[Message], Batch], None]:
    """A sink that ingests each batch into ``warehouse`` (idempotent: a redelivered batch is skipped)."""

    def sink(messages: Sequence[Message], batch: Batch) -> None:
        topics = sorted({m.topic for m in messages})
        source = f"mqtt:{topics[0]}" + (f" (+{len(topics) - 1} topics)" if len(topics) > 1 else "")
        fmt = "mqtt"
        warehouse.ingest(source, batch_digest(messages), fmt, [batch])

    return sink


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passed (for callers and tests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()
