"""Lines as Telegraf writes them: numbers re-read exactly, gaps leave no line, time order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from observatory.simulate.calendar import DayClock, day_number
from observatory.simulate.fleet import build_fleet
from observatory.simulate.output import LineFormatter, _number_chars, rounded
from observatory.sources.line_protocol import parse_lines


def texts(values: list[float], decimals: int) -> list[str]:
    chars, length = _number_chars(np.array(values, dtype=float), decimals)
    return [bytes(chars[chars.shape[0] - n :, i]).decode() for i, n in enumerate(length)]


def test_numbers_are_written_like_go_formatfloat_of_the_rounded_value() -> None:
    values = [31.25, 12.0, -0.5, 0.05, -0.0004, 0.0, 1234.5678, -7.0, 0.001, 99.995, 1e9 + 0.25]
    assert texts(values, 3) == [
        "31.25", "12", "-0.5", "0.05", "0", "0", "1234.568", "-7", "0.001", "99.995", "1000000000.25",
    ]  # fmt: skip
    assert texts([0.04, 0.06, -0.06, 49.96], 1) == ["0", "0.1", "-0.1", "50"]
    assert texts([3.0, 254.0, 0.4], 0) == ["3", "254", "0"]


def test_text_reads_back_exactly_as_the_rounded_value() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [rng.normal(0, 1, 2000), rng.normal(1000, 300, 2000), rng.uniform(-1e6, 1e6, 2000)]
    )
    for decimals in (0, 1, 2, 3):
        parsed = np.array([float(t) for t in texts(values.tolist(), decimals)])
        assert np.array_equal(parsed, rounded(values, decimals) + 0.0)  # + 0.0: -0.0 reads as 0


def test_a_bad_value_is_refused_not_written() -> None:
    with pytest.raises(ValueError):
        texts([1.0, float("nan")], 2)


def test_a_day_formats_in_time_order_and_gaps_leave_no_line(data_settings) -> None:
    fleet = build_fleet(data_settings)
    clock = DayClock(day_number(dt.date(2026, 3, 1)))
    rows = slice(0, 3)
    rng = np.random.default_rng(1)
    values = {
        kind: {
            f.name: rng.uniform(0, 100, (3, len(fleet.of_kind(kind))))
            for f in fleet.of_kind(kind)[0].kind.fields
        }
        for kind in dict.fromkeys(s.kind.name for s in fleet.sensors)
    }
    present = np.ones((3, len(fleet)), dtype=bool)
    present[1, 5] = False  # the sixth sensor is silent in the second minute
    data = LineFormatter(fleet).format(clock.t_ns[rows], values, present).tobytes()
    lines = data.decode().splitlines()
    assert len(lines) == 3 * len(fleet) - 1 and data.endswith(b"\n")
    result = parse_lines(data)
    assert result.rejects == []
    readings = result.readings
    times = readings["time"].to_list()
    assert times == sorted(times)
    silent = fleet.sensors[5]
    assert readings.filter(readings["sensor_id"] == silent.sensor_id)["time"].n_unique() == 2
    first = lines[0]
    assert first.startswith("feeder,insee=97201,sensor_id=feeder-97201-01 load_mw=")
    assert first.endswith(f" {clock.t_ns[0]}")
    feeder = readings.filter((readings["sensor_id"] == "feeder-97209-01") & (readings["field"] == "load_mw"))
    column = [s.sensor_id for s in fleet.of_kind("feeder")].index("feeder-97209-01")
    assert (
        feeder.sort("time")["value"].to_list() == rounded(values["feeder"]["load_mw"][:, column], 3).tolist()
    )
