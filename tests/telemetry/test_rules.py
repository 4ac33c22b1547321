"""telemetry.rules: pure decisions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemetry.rules import (
    HUMIDITY,
    TEMPERATURE,
    BunkerSpec,
    EnvironmentLimits,
    MachineState,
    OpenError,
    Reading,
    ReportedError,
    bunker_crossed_low,
    episode_step,
    evaluate_batch,
    is_low,
    is_silent,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COFFEE = BunkerSpec(capacity=1000, threshold_percent=20)  # low under 200 g
LIMITS = EnvironmentLimits(temperature=30.0, humidity=80.0, temperature_hysteresis=1.0,
                           humidity_hysteresis=2.0)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(**changes) -> MachineState:
    values = {"status": "online", "last_seen_at": T0, "bunker_levels": {"coffee": 800},
              "open_errors": {}}
    values.update(changes)
    return MachineState(**values)


def reading(seconds: int, **fields) -> Reading:
    return Reading(timestamp=at(seconds), status=fields.pop("status", "online"), **fields)


def run(readings, previous: MachineState | None = None):
    return evaluate_batch(previous or state(), readings, {"coffee": COFFEE}, LIMITS)


# -- bunkers ---------------------------------------------------------------------------


def test_low_means_strictly_under_the_threshold():
    assert is_low(199, COFFEE)
    assert not is_low(200, COFFEE)


def test_crossing_below_the_threshold_is_detected():
    assert bunker_crossed_low(250, 150, COFFEE)


def test_staying_low_is_not_a_new_crossing():
    assert not bunker_crossed_low(150, 100, COFFEE)


def test_staying_above_is_not_a_crossing():
    assert not bunker_crossed_low(900, 200, COFFEE)


def test_threshold_crossing_fires_once_for_a_run_of_low_readings():
    outcome = run([reading(i, bunker_levels={"coffee": level})
                   for i, level in enumerate([300, 190, 150, 120, 90], start=1)])
    assert [(low.bunker_id, low.level, low.at) for low in outcome.low_bunkers] == [
        ("coffee", 190, at(2))
    ]
    assert outcome.state.bunker_levels["coffee"] == 90


def test_refill_rearms_the_low_level_rule():
    outcome = run([reading(1, bunker_levels={"coffee": 150}),
                   reading(2, bunker_levels={"coffee": 1000}),
                   reading(3, bunker_levels={"coffee": 100})])
    assert [low.at for low in outcome.low_bunkers] == [at(1), at(3)]


def test_a_bunker_unknown_to_the_rules_is_ignored():
    outcome = run([reading(1, bunker_levels={"ghost": 1})])
    assert outcome.low_bunkers == []
    assert "ghost" not in outcome.state.bunker_levels


# -- environment -----------------------------------------------------------------------


def test_episode_starts_above_the_limit_only():
    assert episode_step(False, 30.0, 30.0) == (False, False)
    assert episode_step(False, 30.1, 30.0) == (True, True)


def test_episode_continues_until_under_the_hysteresis_band():
    assert episode_step(True, 35.0, 30.0, 1.0) == (True, False)
    assert episode_step(True, 29.5, 30.0, 1.0) == (True, False)
    assert episode_step(True, 29.0, 30.0, 1.0) == (False, False)


def test_missing_value_changes_nothing():
    assert episode_step(True, None, 30.0) == (True, False)
    assert episode_step(False, None, 30.0) == (False, False)


def test_heat_warns_once_per_episode_not_once_per_reading():
    outcome = run([reading(i, temperature=t) for i, t in enumerate([31, 32, 33, 31.5], start=1)])
    assert [(a.kind, a.value, a.at) for a in outcome.environment_alerts] == [
        (TEMPERATURE, 31, at(1))
    ]
    assert outcome.state.temperature_alert is True


def test_recovery_rearms_the_environment_warning():
    outcome = run([reading(1, temperature=31), reading(2, temperature=25),
                   reading(3, temperature=31)])
    assert [a.at for a in outcome.environment_alerts] == [at(1), at(3)]


def test_an_episode_running_before_the_batch_does_not_warn_again():
    outcome = run([reading(1, humidity=90)], state(humidity_alert=True))
    assert outcome.environment_alerts == []


def test_humidity_and_temperature_are_separate_episodes():
    outcome = run([reading(1, temperature=35, humidity=85)])
    assert sorted(a.kind for a in outcome.environment_alerts) == [HUMIDITY, TEMPERATURE]


def test_limits_come_from_the_caller():
    tolerant = EnvironmentLimits(temperature=40.0, humidity=95.0)
    outcome = evaluate_batch(state(), [reading(1, temperature=35, humidity=90)], {}, tolerant)
    assert outcome.environment_alerts == []


# -- status ----------------------------------------------------------------------------


def test_status_change_is_reported_with_the_time_of_the_reading():
    outcome = run([reading(1), reading(2, status="error"), reading(3, status="error")],
                  state(status="offline"))
    change = outcome.status_change
    assert (change.previous, change.status, change.at) == ("offline", "error", at(2))


def test_no_status_change_when_the_batch_ends_where_it_started():
    outcome = run([reading(1, status="error"), reading(2, status="online")])
    assert outcome.status_change is None


# -- errors ----------------------------------------------------------------------------


def error(code: str, severity: str = "error", seconds: int = 0) -> ReportedError:
    return ReportedError(code, f"{code} happened", severity, at(seconds))


def test_new_error_codes_open_and_missing_ones_resolve():
    previous = state(open_errors={"E-OLD": OpenError("E-OLD", "error", T0)})
    outcome = run([reading(1, errors=(error("E-NEW", seconds=1),))], previous)
    assert [e.error.code for e in outcome.opened_errors] == ["E-NEW"]
    assert outcome.resolved_errors == {"E-OLD": at(1)}
    assert set(outcome.state.open_errors) == {"E-NEW"}


def test_an_error_reported_again_is_not_reopened():
    previous = state(open_errors={"E-1": OpenError("E-1", "error", T0)})
    outcome = run([reading(1, errors=(error("E-1"),)), reading(2, errors=(error("E-1"),))],
                  previous)
    assert outcome.opened_errors == [] and outcome.resolved_errors == {}


def test_an_error_that_opens_and_ends_within_the_batch_is_closed():
    outcome = run([reading(1, errors=(error("E-1", seconds=1),)), reading(2)])
    [episode] = outcome.opened_errors
    assert episode.resolved_at == at(2)
    assert outcome.state.open_errors == {}


def test_only_new_critical_errors_count_as_critical():
    previous = state(open_errors={"E-HOT": OpenError("E-HOT", "critical", T0)})
    outcome = run([reading(1, errors=(error("E-HOT", "critical"), error("E-FIRE", "critical"),
                                      error("E-COIN", "warning")))], previous)
    assert [e.code for e in outcome.critical_errors] == ["E-FIRE"]


# -- order and late readings -----------------------------------------------------------


def test_readings_are_judged_in_time_order_whatever_the_body_order():
    outcome = run([reading(3, bunker_levels={"coffee": 100}),
                   reading(1, bunker_levels={"coffee": 500})])
    assert outcome.state.bunker_levels["coffee"] == 100
    assert outcome.state.last_seen_at == at(3)
    assert [low.at for low in outcome.low_bunkers] == [at(3)]


def test_late_readings_are_history_only():
    outcome = run([reading(-10, status="error", temperature=50, bunker_levels={"coffee": 1})])
    assert outcome.applied == []
    assert outcome.state == state()
    assert not (outcome.low_bunkers or outcome.environment_alerts or outcome.status_change)


def test_a_machine_never_seen_accepts_any_reading():
    outcome = run([reading(-10)], state(last_seen_at=None))
    assert len(outcome.applied) == 1


# -- watchdog --------------------------------------------------------------------------


def test_silence_is_interval_times_factor():
    assert not is_silent(at(0), at(120), interval_seconds=60, factor=2)
    assert is_silent(at(0), at(121), interval_seconds=60, factor=2)
    assert is_silent(None, at(0), interval_seconds=60, factor=2)
