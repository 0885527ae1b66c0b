"""The checks benchmarks/fuzz.py makes on the executor's commands: nothing found in what the real scheduler
commands while it chases targets jumping between the limits, and each kind of fault found where it is put;
stops are judged by the ticks' stamps, so a tick in flight when the stop was answered is not a fault."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.demo.command_audit import (
    CommandLimits,
    CommandRecord,
    StopLog,
    armings,
    executor_settings,
    limit_violations,
    tick_gaps,
    while_stopped,
)
from fast_vla_ros.execution.scheduler import ChunkScheduler
from fast_vla_ros.types import ActionChunk

ROOT = Path(__file__).resolve().parents[2]
FILES = (ROOT / "config" / "sim_arm_limits.yaml", ROOT / "config" / "sim.yaml")
LIMITS = CommandLimits.from_files(*FILES)
PERIOD = LIMITS.period
T0 = 1000.0  # s: the arm request; ticks follow one period apart


def scheduler_commands(ticks: int = 150) -> list[CommandRecord]:
    """What the real scheduler, configured as config/sim.yaml says, commands after arming at rest while it chases a
    chunk jumping between the limits every 40 steps (0.8 s): the velocity, acceleration and braking limits all
    bind. After a second (watchdog.policy_timeout) it holds."""
    scheduler = ChunkScheduler(*executor_settings(*FILES))
    home = (LIMITS.lower + LIMITS.upper) / 2
    scheduler.update_joint_state(LIMITS.joint_names, home, T0)
    assert scheduler.arm(T0)
    jumping = np.where(np.arange(ticks)[:, None] // 40 % 2 == 0, LIMITS.upper, LIMITS.lower)
    assert scheduler.add_chunk(ActionChunk(jumping, T0, PERIOD, LIMITS.joint_names), T0)
    records = []
    for k in range(1, ticks):
        now = T0 + k * PERIOD
        scheduler.update_joint_state(LIMITS.joint_names, home, now)
        command = scheduler.tick(now)
        records.append(CommandRecord(now + 0.001, now, command.positions, command.velocities))
    return records


def moved(record: CommandRecord, joint: int, by: float) -> CommandRecord:
    positions = record.positions.copy()
    positions[joint] += by
    return replace(record, positions=positions)


def test_the_limits_are_those_of_the_configuration_files():
    assert LIMITS.joint_names[0] == "shoulder_pan_joint" and LIMITS.joint_names[-1] == "gripper_joint"
    assert (LIMITS.lower[0], LIMITS.upper[0], LIMITS.max_velocity[0], LIMITS.max_acceleration[0]) == (-2.9, 2.9, 2, 8)
    assert PERIOD == 0.02 and np.all(LIMITS.max_step == 0.05)


def test_nothing_is_found_in_what_the_scheduler_commands_at_its_limits():
    commands = scheduler_commands()
    velocities = np.diff([c.positions for c in commands], axis=0) / PERIOD
    accelerations = np.diff(velocities, axis=0) / PERIOD
    assert np.all(np.max(np.abs(velocities), axis=0) > 0.99 * np.minimum(LIMITS.max_velocity, LIMITS.max_step / PERIOD))
    assert np.all(np.max(np.abs(accelerations), axis=0) > 0.99 * LIMITS.max_acceleration)
    assert limit_violations(commands, LIMITS, StopLog(T0)) == []


@pytest.mark.parametrize(
    ("fault", "kinds"),
    [
        (lambda c: moved(c, 0, 0.01 * np.sign(c.velocity[0])), {"velocity", "acceleration"}),  # 0.5 rad/s faster
        (lambda c: moved(c, 6, 0.1), {"position", "step", "velocity", "acceleration"}),  # gripper beyond 0.04 m
        (lambda c: moved(c, 2, np.nan), {"position", "step", "velocity", "acceleration"}),
    ],
)
def test_each_fault_is_found_at_the_tick_it_is_put(fault, kinds):
    commands = scheduler_commands()
    commands[30] = fault(commands[30])  # moving at full speed
    found = limit_violations(commands, LIMITS, StopLog(T0))
    assert {v.kind for v in found} == kinds
    assert {v.command.stamp for v in found} <= {c.stamp for c in commands[30:33]}  # a jerk spans three ticks


def test_arming_from_rest_must_start_slowly():
    commands = scheduler_commands()
    commands[0] = replace(commands[0], velocity=commands[0].velocity + 2 * LIMITS.max_acceleration * PERIOD)
    assert {v.kind for v in limit_violations(commands, LIMITS, StopLog(T0))} == {"start_velocity"}


def test_a_stop_silences_the_executor_until_the_next_arm_request_which_starts_a_new_arming():
    first, second = scheduler_commands(40), scheduler_commands(40)
    later = [replace(moved(c, 0, 0.3), stamp=c.stamp + 10.0, arrival=c.arrival + 10.0) for c in second]
    commands = first + later
    stops = StopLog(T0 - 1.0)
    stops.armed(T0 - 0.5)
    stops.acknowledge(first[20].stamp + 0.005)  # answered while tick 20 was in flight: ticks 21.. are faults
    stops.armed(T0 + 10.0 - 0.5)
    assert [c.stamp for c in while_stopped(commands, stops)] == [c.stamp for c in first[21:]]
    assert [len(a) for a in armings(commands, stops)] == [len(first), len(later)]
    assert limit_violations(commands, LIMITS, stops) == []  # 0.3 rad away, but armed afresh from rest
    gaps, _ = tick_gaps(commands, stops)
    assert gaps.max() == pytest.approx(PERIOD)


def test_commands_before_the_first_arm_request_are_faults():
    commands = scheduler_commands(10)
    stops = StopLog(T0 - 1.0)
    assert len(while_stopped(commands, stops)) == len(commands)
    stops.armed(T0)
    assert while_stopped(commands, stops) == []
