"""Scenario names as users type them, and where the scenarios land in the window."""

from __future__ import annotations

import pytest

from observatory.errors import ParameterError
from observatory.simulate.calendar import MINUTE_NS, Window
from observatory.simulate.engine import Options
from observatory.simulate.fleet import build_fleet
from observatory.simulate.scenarios import SCENARIOS, Effects, Request, parse_scenarios


def test_names_all_and_the_storm_argument() -> None:
    assert parse_scenarios(None) == ()
    assert [r.name for r in parse_scenarios(["all"])] == list(SCENARIOS)
    assert parse_scenarios(["grid_outage", "cyclone:al152017"]) == (
        Request("cyclone", "AL152017"),
        Request("grid_outage"),
    )
    assert parse_scenarios(["all", "cyclone:AL091979"])[0] == Request("cyclone", "AL091979")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["cyclon"], "Did you mean 'cyclone'"),
        (["sargasse"], "Did you mean 'sargassum'"),
        (["dust:big"], "takes no argument"),
        (["dust", "dust"], "asked twice"),
        (["cyclone:"], "names no storm"),
    ],
)
def test_bad_scenarios_name_the_parameter(values, message) -> None:
    with pytest.raises(ParameterError, match=message) as error:
        parse_scenarios(values)
    assert error.value.parameter == "--scenario"


def test_a_storm_that_never_came_near_or_does_not_exist_is_refused(data_settings) -> None:
    fleet = build_fleet(data_settings)
    options = Options.parse(start="2026-09-01", days=2)
    window = Window(options.start_ns, options.end_ns)
    with pytest.raises(ParameterError, match="never came within 300 km") as far:
        Effects((Request("cyclone", "AL011851"),), window, fleet, 1, data_settings)
    with pytest.raises(ParameterError, match="no storm 'AL042O07'.*Did you mean 'AL04") as unknown:
        Effects((Request("cyclone", "AL042O07"),), window, fleet, 1, data_settings)
    assert far.value.parameter == unknown.value.parameter == "--scenario"


@pytest.mark.parametrize("days", [1, 30])
def test_every_scenario_lands_inside_the_window_on_whole_minutes(data_settings, days) -> None:
    fleet = build_fleet(data_settings)
    options = Options.parse(start="2026-09-01", days=days, scenarios=["all"])
    window = Window(options.start_ns, options.end_ns)
    effects = Effects(options.scenarios, window, fleet, 972, data_settings)
    assert [e.scenario for e in effects.events] == list(SCENARIOS)
    for event in effects.events:
        assert window.start_ns <= event.start_ns < event.end_ns <= window.end_ns, event.scenario
        assert event.start_ns % MINUTE_NS == 0 and event.end_ns % MINUTE_NS == 0
    assert window.start_ns < effects.cyclone.closest_ns < window.end_ns
    # Another seed places them elsewhere.
    other = Effects(options.scenarios, window, fleet, 973, data_settings)
    assert [e.start_ns for e in other.events] != [e.start_ns for e in effects.events]
