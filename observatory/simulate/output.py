"""Where the simulated lines go: line-protocol files as Telegraf writes them, MQTT, InfluxDB 1.x.

Lines are built for a whole day at once with numpy, without a Python loop per line: every line
of the day gets a fixed-width row of bytes (its prefix, field names, numbers right-aligned in
their slots, the timestamp); the bytes a line does not use are NUL, and the day's text is the
other bytes in (time, sensor) order. Numbers are written with a fixed resolution per
field (fleet.Field.decimals), trailing zeros dropped, as Go's strconv.FormatFloat(v, 'f', -1)
writes the rounded value: "31.25", "12", "-0.5". The text re-reads exactly as ``rounded(v)``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np

from observatory.errors import ParameterError, ServiceError
from observatory.simulate.fleet import Fleet

POW10 = 10 ** np.arange(19, dtype=np.int64)
TIME_DIGITS = 19  # ns since the epoch: 19 digits from 2001-09-09 to 2286-11-20
MAX_ABS = 1e12  # larger values cannot come from the physics: a bug, refused
MQTT_TOPIC = "observatory/{domain}/{sensor_id}"
MQTT_QOS = 1
MQTT_INFLIGHT = 200  # QoS 1 messages awaiting their PUBACK at once


def rounded(values: np.ndarray, decimals: int) -> np.ndarray:
    """``values`` at ``decimals`` places exactly as the written text reads back (float64)."""
    return np.rint(np.asarray(values, dtype=np.float64) * POW10[decimals]) / POW10[decimals]


def _number_chars(values: np.ndarray, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned characters (width, n) of the numbers ``values`` (n,) written with at most
    ``decimals`` places, trailing zeros dropped, and each one's length."""
    if not np.all(np.isfinite(values)) or np.abs(values).max(initial=0.0) >= MAX_ABS:
        raise ValueError("a simulated value is not finite or out of range")
    scaled = np.rint(values * POW10[decimals]).astype(np.int64)
    negative = scaled < 0
    digits = np.abs(scaled)
    if digits.max(initial=0) < 2**31:  # int32 division is many times faster than int64's
        digits = digits.astype(np.int32)
    kept = np.full(values.shape, decimals, dtype=np.int8)  # fraction digits left to write
    for _ in range(decimals):  # drop trailing zeros of the fraction
        quotient = digits // 10
        zero = (digits - quotient * 10 == 0) & (kept > 0)
        digits = np.where(zero, quotient, digits)
        kept -= zero
    has_dot = kept > 0
    negative &= digits > 0  # -0 is written 0
    count = np.ones(values.shape, dtype=np.int8)
    for k in range(1, len(str(int(digits.max(initial=0))))):
        count += digits >= POW10[k]
    count = np.maximum(count, kept + 1)  # "0.05": a zero before the dot
    length = count + has_dot + negative
    width = int(length.max(initial=1))
    chars = np.empty((width, values.size), dtype=np.uint8)
    rest = digits
    for k in range(width):  # k-th character from the right
        quotient = rest // 10
        char = (rest - quotient * 10).astype(np.uint8)
        char += 48
        if k <= decimals:
            dot = has_dot & (kept == k)
            char[dot] = ord(".")
            rest = np.where(dot, rest, quotient)
        else:
            rest = quotient
        if k >= 1:
            char[negative & (length - 1 == k)] = ord("-")
        chars[width - 1 - k] = char
    return chars, length


def _slots(fields: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each (values (rows, n), decimals): characters (width, rows, n), left to right, and
    each number's length (rows, n).

    Fields with the same resolution are converted together (few, large numpy operations).
    """
    out: list = [None] * len(fields)
    for decimals in sorted({d for _, d in fields}):
        members = [i for i, (_, d) in enumerate(fields) if d == decimals]
        flat = np.concatenate([fields[i][0].ravel() for i in members])
        chars, length = _number_chars(flat, decimals)
        start = 0
        for i in members:
            shape = fields[i][0].shape
            stop = start + fields[i][0].size
            lengths = length[start:stop]
            width = int(lengths.max(initial=1))
            out[i] = (
                chars[chars.shape[0] - width :, start:stop].reshape(width, *shape),
                lengths.reshape(shape),
            )
            start = stop
    return out


class LineFormatter:
    """Formats a day of the fleet's values as line protocol (ns timestamps), one line per present
    (minute, sensor), lines ordered by time, then by the fleet's order."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.groups = []  # (kind, first sensor, prefixes)
        for kind_name in dict.fromkeys(s.kind.name for s in fleet.sensors):
            members = fleet.of_kind(kind_name)
            first = members[0].index
            if [s.index for s in members] != list(range(first, first + len(members))):
                raise ValueError("the fleet's sensors must be grouped by kind")
            prefixes = [np.frombuffer((s.prefix + " ").encode("ascii"), dtype=np.uint8) for s in members]
            self.groups.append((members[0].kind, first, prefixes))

    def _group_layout(self, kind, prefixes, numbers: list[tuple[np.ndarray, np.ndarray]]):
        """Template row per sensor (prefix, field names, NUL where numbers go) and the number
        slots of one kind for one day."""
        column = max(p.size for p in prefixes)
        literals, slots = [], []
        for position, (spec, (chars, lengths)) in enumerate(zip(kind.fields, numbers, strict=True)):
            name = np.frombuffer(
                (("," if position else "") + spec.name + "=").encode("ascii"), dtype=np.uint8
            )
            literals.append((column, name))
            column += name.size
            slots.append((column, chars, lengths))
            column += chars.shape[0]
        stamp_at = column
        template = np.zeros((len(prefixes), column + TIME_DIGITS + 2), dtype=np.uint8)
        for i, prefix in enumerate(prefixes):
            template[i, : prefix.size] = prefix
        for at, name in literals:
            template[:, at : at + name.size] = name
        return template, slots, stamp_at

    def format(
        self, t_ns: np.ndarray, values: dict[str, dict[str, np.ndarray]], present: np.ndarray
    ) -> np.ndarray:
        """Line protocol (bytes as a uint8 array) of ``values`` (kind -> field -> (times, sensors
        of the kind)) at ``t_ns`` for the (time, fleet sensor) pairs where ``present`` is True.

        Every line gets a fixed-width row; the bytes a line does not use (left of a short number,
        right of a short prefix, all of a missing line) are NUL, which text never holds, and are
        dropped at the end.
        """
        rows = t_ns.size
        wanted = [(values[kind.name][f.name], f.decimals) for kind, _, _ in self.groups for f in kind.fields]
        numbers = iter(_slots(wanted))
        layouts = [
            self._group_layout(kind, prefixes, [next(numbers) for _ in kind.fields])
            for kind, _, prefixes in self.groups
        ]
        buffer = np.empty((rows, sum(layout[0].size for layout in layouts)), dtype=np.uint8)
        buffer[:] = np.concatenate([layout[0].ravel() for layout in layouts])  # one contiguous copy a row
        stamps = np.frombuffer(b"".join(b" %19d\n" % t for t in t_ns.tolist()), dtype=np.uint8)
        stamps = stamps.reshape(rows, 1, TIME_DIGITS + 2)
        offset = 0
        for (template, slots, stamp_at), (_, first, _) in zip(layouts, self.groups, strict=True):
            count, width = template.shape
            block = buffer[:, offset : offset + width * count].reshape(rows, count, width)
            for at, chars, lengths in slots:
                slot = chars.shape[0]
                for j in range(slot):  # one character column at a time: contiguous sources
                    block[:, :, at + j] = chars[j] * (lengths >= slot - j)
            block[:, :, stamp_at:] = stamps
            missing = ~present[:, first : first + count]
            if missing.any():
                block[missing] = 0
            offset += width * count
        return buffer[buffer != 0]


class MqttSink:
    """Publishes every line at QoS 1 on ``observatory/<domain>/<sensor_id>`` (payload: the line)."""

    def __init__(self, url: str, fleet: Fleet, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ParameterError(f"{url!r} is not an mqtt://host:port URL", parameter="--mqtt")
        self.url = url
        self.topics = [MQTT_TOPIC.format(domain=s.kind.domain, sensor_id=s.sensor_id) for s in fleet.sensors]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(MQTT_INFLIGHT)
        try:
            self.client.connect(parts.hostname, parts.port or 1883, keepalive=30)
        except OSError as exc:
            raise ServiceError(f"cannot reach the MQTT broker at {url}: {exc}", parameter="--mqtt") from exc
        self.client.loop_start()
        self.published = 0

    def write(self, day_label: str, data: np.ndarray, sensors: np.ndarray) -> None:
        lines = data.tobytes().split(b"\n")[:-1]
        pending = []
        for line, sensor in zip(lines, sensors.tolist(), strict=True):
            pending.append(self.client.publish(self.topics[sensor], line + b"\n", qos=MQTT_QOS))
        for info in pending:  # a day at a time: memory stays bounded
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise ServiceError(
                    f"the MQTT broker at {self.url} did not acknowledge a message", parameter="--mqtt"
                )
        self.published += len(pending)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class InfluxSink:
    """Writes the lines to InfluxDB 1.x, ``--influx http://host:port/database`` (created if missing)."""

    def __init__(self, url: str) -> None:
        from observatory.sources.influxdb1 import Influx1Client

        parts = urlsplit(url)
        database = parts.path.strip("/")
        if parts.scheme not in ("http", "https") or not parts.hostname or not database or "/" in database:
            raise ParameterError(
                f"{url!r} is not http://host:port/database",
                parameter="--influx",
                hint="e.g. --influx http://127.0.0.1:8086/observatory",
            )
        base = f"{parts.scheme}://{parts.netloc}"
        self.client = Influx1Client(base, database)
        self.client.create_database()
        self.written = 0

    def write(self, day_label: str, data: np.ndarray, sensors: np.ndarray) -> None:
        self.written += self.client.write_lines(data.tobytes().decode("ascii").split("\n"))

    def close(self) -> None:
        self.client.close()
