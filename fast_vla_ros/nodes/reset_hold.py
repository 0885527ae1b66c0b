"""Hold the arm across a simulator reset until the policy has planned for the new episode's instruction.

The demo's operator does this around every episode (``fast_vla_ros/demo/episode_runner.py``: disarm,
reset, send the instruction, arm once a chunk for it exists). A user who calls ``~/reset`` by hand gets
the same from sim_node when its parameter ``hold_arm_on_reset`` is set (``launch/sim.launch.py`` sets it):

1. from the reset on, sim_node drops controller commands until it knows whether the executor was armed
   at the reset. An armed executor publishes its ``~/command`` echo, stamped, on every 50 Hz tick: an
   echo stamped within ``ARMED_ECHO_WINDOW_S`` after the reset means it was, one stamped later means it
   was armed afterwards (not held), and none within ``UNDECIDED_DROP_S`` means it is not commanding.
   An executor that was armed is disarmed through its ``~/arm`` service, and commands stay dropped
   until that call returns: no command planned before the reset lands on the new episode's start pose;
2. once ``policy_node/status`` names the new instruction and a chunk planned from an observation after
   the reset has been published, that executor is armed again (arming holds the measured position; it
   then takes only chunks that arrive after it). A refusal (no fresh joint state, e-stop) is tried again
   at the policy's next message until ``REARM_TIMEOUT_S``; then the arm stays disarmed, said in the log.

It lives in sim_node, not in a separate relay node, because only the node that performs the reset can
order it against the executor's commands: a relay learns of the reset afterwards, and in the meantime
the executor's forward commands from the old plan pull the freshly reset arm back towards the old pose
(seen in about one reset in three on this machine when the drop was left out).

An executor that was not armed at the reset (its operator disarmed it first, as the demo does) is never
armed here, and one still waiting from an earlier reset waits for the newest instruction. An operator
who arms within ``ARMED_ECHO_WINDOW_S`` of a reset is taken for one that was armed at it: that is why
the demo and the tests, which operate the episodes themselves, leave ``hold_arm_on_reset`` off.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import Enum

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool

from fast_vla_ros.msg import ActionChunk as ActionChunkMsg
from fast_vla_ros.msg import PolicyStatus
from fast_vla_ros.nodes.conversions import stamp_to_seconds

ARMED_ECHO_WINDOW_S = 0.05  # an armed executor's next tick comes within 20 ms (SCHED_FIFO keeps it there)
UNDECIDED_DROP_S = 0.5  # no echo at all: nobody is commanding, so dropping costs nothing
DISARM_REPLY_TIMEOUT_S = 1.0  # commands are dropped at most this long when the executor does not answer
REARM_TIMEOUT_S = 15.0


class _Commands(Enum):
    UNDECIDED = "undecided"  # dropped: was the executor armed at the reset?
    DISARMING = "disarming"  # dropped: it was, and the disarm call is in flight
    TAKEN = "taken"


@dataclass
class _Handover:
    instruction: str
    reset_stamp: float  # this node's clock, seconds: echoes and observations after it are new
    drop_until: float  # time.monotonic(): commands are taken again after it, whatever happened
    deadline: float  # time.monotonic(): not armed again after it
    hold: bool  # the executor was armed at the reset: arm it again once the policy has planned
    commands: _Commands = _Commands.UNDECIDED
    arm_in_flight: bool = False
    refusal: str = ""  # the executor's reason, when it refused to be armed again


class ResetHold:
    def __init__(self, node: Node, executor_name: str = "chunk_executor_node", policy_name: str = "policy_node"):
        self._node = node
        self._arm = node.create_client(SetBool, f"{executor_name}/arm")
        node.create_subscription(JointState, f"{executor_name}/command", self._on_command_echo, 10)
        node.create_subscription(PolicyStatus, f"{policy_name}/status", self._on_policy_status, 10)
        node.create_subscription(ActionChunkMsg, "action_chunk", self._on_chunk, 10)
        self._newest_chunk_stamp = -math.inf
        self._policy_instruction = ""
        self._handover: _Handover | None = None

    @property
    def accepts_commands(self) -> bool:
        handover = self._handover
        return handover is None or handover.commands is _Commands.TAKEN or time.monotonic() > handover.drop_until

    def on_reset(self, instruction: str, reset_stamp: float) -> None:
        """Call right after the reset, in the same callback, before any command can be taken."""
        still_waiting = self._handover is not None and self._handover.hold
        now = time.monotonic()
        self._handover = _Handover(instruction, reset_stamp, now + UNDECIDED_DROP_S, now + REARM_TIMEOUT_S,
                                   hold=still_waiting)
        if still_waiting:
            self._log_hold()

    def _log_hold(self) -> None:
        self._node.get_logger().info(f'arm held until the policy has planned for "{self._handover.instruction}"')

    def _on_command_echo(self, msg: JointState) -> None:
        handover = self._handover
        if handover is None or handover.commands is not _Commands.UNDECIDED:
            return
        since_reset = stamp_to_seconds(msg.header.stamp) - handover.reset_stamp
        if since_reset <= 0.0:
            return  # from before the reset, read late
        if since_reset > ARMED_ECHO_WINDOW_S:
            handover.commands = _Commands.TAKEN  # armed after the reset, by its operator
            return
        handover.commands = _Commands.DISARMING
        handover.drop_until = time.monotonic() + DISARM_REPLY_TIMEOUT_S
        self._arm.call_async(SetBool.Request(data=False)).add_done_callback(
            lambda _: setattr(handover, "commands", _Commands.TAKEN)
        )
        if not handover.hold:
            handover.hold = True
            self._log_hold()

    def _on_chunk(self, msg: ActionChunkMsg) -> None:
        self._newest_chunk_stamp = stamp_to_seconds(msg.header.stamp)
        self._rearm_when_planned()

    def _on_policy_status(self, msg: PolicyStatus) -> None:
        self._policy_instruction = msg.instruction
        self._rearm_when_planned()

    def _rearm_when_planned(self) -> None:
        handover = self._handover
        if handover is None or not handover.hold or handover.arm_in_flight:
            return
        if time.monotonic() > handover.deadline:
            self._handover = None
            self._node.get_logger().warning(
                f'the executor was not armed again for "{handover.instruction}" within {REARM_TIMEOUT_S:g} s '
                f"({handover.refusal or 'the policy did not plan for it'}): the arm stays disarmed; arm it with "
                "the executor's ~/arm service"
            )
        elif self._policy_instruction == handover.instruction and self._newest_chunk_stamp >= handover.reset_stamp:
            handover.arm_in_flight = True
            self._arm.call_async(SetBool.Request(data=True)).add_done_callback(
                lambda future: self._on_rearm_reply(handover, future.result())
            )

    def _on_rearm_reply(self, handover: _Handover, response: SetBool.Response | None) -> None:
        handover.arm_in_flight = False
        if response is not None and response.success:
            if self._handover is handover:
                self._handover = None
            self._node.get_logger().info("the policy has planned for the new instruction: executor armed again")
        else:
            handover.refusal = response.message if response is not None else "no reply"
