"""sim_node's episodes over real DDS: every episode, the start-up one included, takes a new seed; its
instruction reaches the policy's topic when forwarding is on; and with hold_arm_on_reset a reset holds
the arm (executor disarmed, no command from before the reset lands on the new episode) until the policy
has planned for the new instruction, then arms it again, but only if it was armed before.

The test plays the policy (status and chunks); sim_node and chunk_executor_node are the real nodes."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.conversions import action_chunk_to_msg, stamp_to_seconds
from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.types import ActionChunk

pytestmark = pytest.mark.ros

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
PARAMS_FILE = "config/sim.yaml"
TASK, SEED = "touch", 705  # four episodes with four different instructions
EXECUTOR = "chunk_executor_node"
STILL_RAD = 0.03  # the reset arm at rest; a command from before the reset would move a joint by > REACHED_RAD
REACH_RAD = 0.5  # where the test's chunk sends shoulder_pan_joint before the reset ...
REACHED_RAD = 0.15  # ... and how far it must have gone (sim_node starved of CPU makes the executor hold)


@pytest.fixture(scope="module")
def episodes() -> dict[int, tuple[str, np.ndarray]]:
    """Instruction and start pose of the episodes sim_node will lay out, from the simulator itself."""
    with ArmSimulator() as sim:
        laid_out = {seed: (sim.reset(TASK, seed), sim.joint_positions()) for seed in range(SEED, SEED + 4)}
    assert len({instruction for instruction, _ in laid_out.values()}) == 4, "pick seeds whose instructions differ"
    return laid_out


@pytest.fixture
def sim_and_executor(spawn_python):
    sim = spawn_python("-m", "fast_vla_ros.nodes.sim_node", "--ros-args", "--params-file", PARAMS_FILE,
                       "-p", f"task:={TASK}", "-p", f"seed:={SEED}",
                       "-p", "forward_instruction:=true", "-p", "hold_arm_on_reset:=true")
    executor = spawn_python("-m", "fast_vla_ros.nodes.chunk_executor_node", "--ros-args",
                            "--params-file", PARAMS_FILE, "-p", "diagnostics_period:=0.2")
    yield
    assert sim.poll() is None and executor.poll() is None, "a node exited during the test"


def test_each_episode_takes_a_new_seed_and_its_instruction_reaches_the_policy_topic(
    harness, sim_and_executor, episodes
):
    forwarded = harness.record(String, "/instruction", LATCHED)
    start_up = episodes[SEED][0]
    harness.spin_until(lambda: forwarded and forwarded[-1].data == start_up, what="the start-up instruction")
    for seed in (SEED + 1, SEED + 2):
        reply = harness.call(Trigger, "/sim_node/reset", Trigger.Request())
        instruction = episodes[seed][0]
        assert reply.success and reply.message == instruction, f"reset did not lay out seed {seed}"
        harness.spin_until(lambda i=instruction: forwarded[-1].data == i, what="the new instruction on /instruction")


class PlayedPolicy:
    """What policy_node publishes, published by the test: its status and its chunks."""

    def __init__(self, harness) -> None:
        self._node = harness.node
        self._status = self._node.create_publisher(PolicyStatus, "/policy_node/status", 10)
        self._chunks = self._node.create_publisher(ActionChunkMsg, "/action_chunk", 10)
        self._published = 0

    def now(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def plan(self, instruction: str, targets: np.ndarray, joint_names: list[str]) -> None:
        """A chunk from an observation taken now, then the status naming the instruction it was for."""
        chunk = ActionChunk(targets, self.now(), 0.02, tuple(joint_names))
        self._chunks.publish(action_chunk_to_msg(chunk, [], "fast", 0.01))
        self._published += 1
        self._status.publish(PolicyStatus(state=PolicyStatus.STATE_RUNNING, instruction=instruction,
                                          chunks_published=self._published))


def test_a_reset_holds_an_armed_arm_until_the_policy_has_planned_for_the_new_instruction(
    harness, sim_and_executor, episodes
):
    joint_states: list[JointState] = harness.record(JointState, "/joint_states", qos_profile_sensor_data)
    echo: list[JointState] = harness.record(JointState, f"/{EXECUTOR}/command")
    policy = PlayedPolicy(harness)
    harness.spin_until(lambda: len(joint_states) > 0, what="joint states from sim_node")
    names = list(joint_states[-1].name)

    def armed() -> str:
        return harness.next_diagnostics(EXECUTOR)["armed"]

    def arm() -> None:
        """Arming needs a joint state from the last 0.1 s; on a loaded machine sim_node may miss that."""
        request = SetBool.Request(data=True)
        harness.spin_until(lambda: harness.call(SetBool, f"/{EXECUTOR}/arm", request).success, what="arming")

    def hold_still(seconds: float) -> np.ndarray:
        return np.tile(np.array(joint_states[-1].position), (int(seconds / 0.02), 1))

    # Disarmed just before the reset, as the demo's operator does: the policy planning for the new
    # instruction must not arm the executor.
    arm()
    harness.spin_until(lambda: len(echo) > 0, what="the armed executor's commands")
    assert harness.call(SetBool, f"/{EXECUTOR}/arm", SetBool.Request(data=False)).success
    first = harness.call(Trigger, "/sim_node/reset", Trigger.Request()).message
    policy.plan(first, hold_still(1.0), names)
    assert [armed() for _ in range(3)] == ["False"] * 3, "a reset armed an executor its operator had disarmed"

    # Armed and moving: shoulder_pan_joint heads REACH_RAD away, so a late command would show.
    arm()
    reach = hold_still(1.0)
    reach[:, 0] += np.linspace(0.0, REACH_RAD, len(reach))
    policy.plan(first, reach, names)
    harness.spin_until(lambda: echo and echo[-1].position[0] > reach[0, 0] + REACHED_RAD, what="the reach")

    instruction, start_pose = episodes[SEED + 2]
    reply = harness.call(Trigger, "/sim_node/reset", Trigger.Request())
    reset_at = policy.now()
    assert reply.message == instruction
    harness.spin_until(lambda: harness.diagnostics[EXECUTOR][-1]["armed"] == "False", what="the executor disarmed")
    after = len(joint_states)
    harness.spin_until(lambda: len(joint_states) >= after + 50, what="joint states after the reset")
    new_episode = np.array([m.position for m in joint_states if stamp_to_seconds(m.header.stamp) > reset_at])
    assert np.abs(new_episode - start_pose).max() < STILL_RAD, "a command from before the reset moved the arm"

    # The policy still plans for the old instruction: held.
    policy.plan(first, hold_still(1.0), names)
    assert [armed() for _ in range(3)] == ["False"] * 3, "armed before the policy planned for the new instruction"

    # A chunk for the new instruction: armed again, holding the new episode's start pose.
    echoed = len(echo)
    policy.plan(instruction, hold_still(1.0), names)
    harness.spin_until(lambda: len(echo) > echoed + 5, what="the executor commanding again")
    assert np.abs(np.array(echo[-1].position) - start_pose).max() < STILL_RAD
