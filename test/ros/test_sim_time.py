"""Simulated time over real DDS: the executor ticks on /clock, and a clock that jumps backwards (a simulator
reset) makes it hold without a jump and recover on the new timeline; the whole loop (sim_node publishing
/clock, every node on use_sim_time) tracks and succeeds at a real-time factor below and above 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES, EpisodeRunner
from fast_vla_ros.demo.processes import NodeProcesses
from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.nodes.conversions import action_chunk_to_msg, seconds_to_stamp, stamp_to_seconds
from fast_vla_ros.types import ActionChunk, JointLimits

pytestmark = pytest.mark.ros

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "config" / "sim.yaml"
LIMITS = JointLimits.from_yaml(REPO_ROOT / "config" / "sim_arm_limits.yaml")
NODE = "chunk_executor_node"
MAX_STEP = 0.05  # rad per tick: safety.max_step in config/sim.yaml
PERIOD = 0.02  # s of simulated time between ticks: scheduler.control_period in config/sim.yaml


class SimulatedClock:
    """The test plays the simulator: /clock from 100 s on, 10 ms of simulated time per 10 ms of wall time, and
    joint states at home stamped with it."""

    def __init__(self, harness) -> None:
        self.node = harness.node
        self.time = 100.0
        self.home = np.zeros(len(LIMITS.joint_names))
        self.home[-1] = 0.02
        self._clock = self.node.create_publisher(Clock, "/clock", 10)
        self._joint_states = self.node.create_publisher(JointState, "/joint_states", 10)
        self.node.create_timer(0.01, self._step)

    def _step(self) -> None:
        self.time += 0.01
        self._clock.publish(Clock(clock=seconds_to_stamp(self.time)))
        msg = JointState(name=list(LIMITS.joint_names), position=self.home.tolist())
        msg.header.stamp = seconds_to_stamp(self.time)
        self._joint_states.publish(msg)

    def chunk(self, speed: float) -> ActionChunkMsg:
        """Two seconds moving the first joint at ``speed`` rad/s from home, observed now."""
        targets = np.tile(self.home, (100, 1))
        targets[:, 0] = speed * PERIOD * np.arange(100)
        return action_chunk_to_msg(ActionChunk(targets, self.time, PERIOD, LIMITS.joint_names), [], "fast", 0.0)


def test_a_clock_jumping_back_makes_the_executor_hold_and_recover(harness, spawn_python):
    executor = spawn_python("-m", "fast_vla_ros.nodes.chunk_executor_node", "--ros-args", "--params-file", PARAMS,
                            "-p", "use_sim_time:=true", "-p", "diagnostics_period:=0.2")  # fmt: skip
    clock = SimulatedClock(harness)
    commands: list[Float64MultiArray] = harness.record(Float64MultiArray, "/forward_position_controller/commands")
    echoes: list[JointState] = harness.record(JointState, f"/{NODE}/command")
    chunks = harness.node.create_publisher(ActionChunkMsg, "/action_chunk", 10)
    harness.next_diagnostics(NODE)
    reply = harness.call(SetBool, f"/{NODE}/arm", SetBool.Request(data=True))
    assert reply.success, reply.message
    chunks.publish(clock.chunk(0.5))
    harness.spin_until(lambda: len(commands) > 0 and commands[-1].data[0] > 0.1, what="tracking on simulated time")
    stamps = np.array([stamp_to_seconds(echo.header.stamp) for echo in echoes[-20:]])
    assert stamps.min() > 100.0, "the ticks are not stamped with the simulated time"

    clock.time = 1.0  # the simulator was reset
    jumped_at = len(commands)
    status = harness.next_diagnostics(NODE)
    harness.spin_until(lambda: int(harness.diagnostics[NODE][-1]["clock_jumped_back"]) >= 1, what="the jump")
    status = harness.next_diagnostics(NODE, count=2)
    assert status["state"] == "holding" and status["hold_reason"] == "no_chunk", status
    assert int(status["hold.clock_jumped_back"]) == 1
    held = np.array([c.data for c in commands[-10:]])
    assert np.ptp(held, axis=0).max() < 1e-9, "the arm kept moving after the jump"

    chunks.publish(clock.chunk(0.5))  # planned on the new timeline, from home
    harness.spin_until(lambda: harness.diagnostics[NODE][-1]["state"] == "tracking", what="tracking again")
    harness.spin_until(lambda: len(commands) > 0 and commands[-1].data[0] < held[-1][0] - 0.05,
                       what="the arm to follow the new chunk")  # fmt: skip
    steps = np.abs(np.diff(np.array([c.data for c in commands[jumped_at - 5 :]]), axis=0))
    assert steps.max() <= MAX_STEP + 1e-9, "the arm jumped"
    assert executor.poll() is None


TOUCH_SEEDS = (900_011, 900_012, 900_013, 900_014, 900_015)  # as test_full_loop: one success in five


@pytest.fixture(scope="module", params=[0.5, 2.0], ids=["real_time_factor_0.5", "real_time_factor_2.0"])
def sim_time_loop(request, ros_env, tmp_path_factory) -> Iterator[tuple[EpisodeRunner, float]]:
    import rclpy
    from rclpy.context import Context

    factor = request.param
    processes = NodeProcesses(ros_env, tmp_path_factory.mktemp("logs"), REPO_ROOT)
    processes.start(
        "sim_node", PARAMS, {**NODE_OVERRIDES["sim_node"], "publish_clock": "true", "real_time_factor": str(factor)}
    )
    for node in ("chunk_executor_node", "policy_node"):
        processes.start(node, PARAMS, {"use_sim_time": "true"})
    context = Context()
    rclpy.init(context=context)
    runner = EpisodeRunner(context, processes.check_alive)
    try:
        runner.wait_until_ready(timeout_s=180.0)
        yield runner, factor
    finally:
        runner.close()
        context.try_shutdown()
        processes.stop_all()


@pytest.mark.slow
def test_the_loop_tracks_and_succeeds_on_simulated_time(sim_time_loop):
    """At half and at twice real time: ticks 20 ms of simulated time apart, the arm tracks, no hold for a
    stale input that simulated time does not explain, and a touch episode succeeds as on wall time.

    The policy infers in wall time, so at twice real time its latency counts double: when a chunk arrives
    more than ``watchdog.policy_timeout`` of simulated time after the observation before it, the executor
    must hold (policy_stale). The test counts those gaps from the chunks' stamps and the /clock it hears,
    and allows no more policy_stale holds than gaps; joint states come every 10 ms of simulated time, so
    no joint_state_stale hold is allowed at all."""
    runner, factor = sim_time_loop
    clock = [0.0]
    tick_stamps: list[float] = []
    chunks: list[tuple[float, float]] = []  # (observation time t0, simulated time it arrived)
    node = runner.node
    node.create_subscription(Clock, "/clock", lambda msg: clock.__setitem__(0, stamp_to_seconds(msg.clock)), 10)
    node.create_subscription(
        JointState, f"/{NODE}/command", lambda msg: tick_stamps.append(stamp_to_seconds(msg.header.stamp)), 100
    )
    node.create_subscription(
        ActionChunkMsg, "/action_chunk", lambda msg: chunks.append((stamp_to_seconds(msg.header.stamp), clock[0])), 10
    )
    runner.wait_for_executor_diagnostics(lambda _: True, 10.0, "executor diagnostics")
    counters = ("hold.policy_stale", "hold.joint_state_stale", "clock_jumped_back")
    before = {key: int(runner.executor_diagnostics[key]) for key in counters}
    outcomes = []
    for seed in TOUCH_SEEDS:
        tick_stamps.clear()
        record = runner.run_episode("touch", seed, timeout_s=12.0 / factor)
        outcomes.append((seed, record.success, round(record.seconds, 1)))
        assert record.armed, "the policy never planned for the instruction"
        commanded = np.stack([q for _, q in record.commanded])
        assert np.abs(commanded - commanded[0]).max() > 0.1, "the arm did not move"
        periods = np.diff(np.array(tick_stamps))
        assert len(periods) > 50 and np.median(periods) == pytest.approx(PERIOD, abs=1e-6), (
            f"tick periods in simulated time: median {np.median(periods):.4f} s"
        )
        if record.success:
            break
    after = {key: int(runner.executor_diagnostics[key]) for key in counters}
    observed = np.array([t0 for t0, _ in chunks])
    arrived = np.array([arrival for _, arrival in chunks])
    # A gap is genuine when the next chunk arrived more than policy_timeout (1 s) after the observation before
    # it, give or take two ticks for the test's own view of /clock.
    gaps = int(np.sum(arrived[1:] - observed[:-1] > 1.0 - 2 * PERIOD))
    latency = arrived - observed
    assert after["hold.joint_state_stale"] == before["hold.joint_state_stale"], (before, after)
    assert after["clock_jumped_back"] == before["clock_jumped_back"], (before, after)
    assert after["hold.policy_stale"] - before["hold.policy_stale"] <= gaps, (
        f"policy_stale holds {before} -> {after} with {gaps} genuine gaps; chunk latency in simulated time "
        f"p50 {np.median(latency):.3f} s, max {latency.max():.3f} s"
    )
    assert any(success for _, success, _ in outcomes), f"no touch episode succeeded (seed, success, s): {outcomes}"


def test_sim_node_refuses_a_real_time_factor_on_the_wall_clock(spawn_python):
    child = spawn_python("-m", "fast_vla_ros.nodes.sim_node", "--ros-args", "--params-file", PARAMS,
                         "-p", "real_time_factor:=0.5")  # fmt: skip
    output, _ = child.communicate(timeout=60)
    # Not asserted to be 2 (a configuration error): sim_node.destroy_node then fails on the half-made node and
    # the process exits 1, as it already did for an unknown task; the node's shutdown is another issue's.
    assert child.returncode != 0
    assert "configuration error: real_time_factor 0.5 needs publish_clock: true" in output
