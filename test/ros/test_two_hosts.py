"""The policy on another host: policy_node in one network namespace, sim_node and chunk_executor_node in
another, joined by a veth pair the test makes and removes, DDS set up by the shipped two-host profile.
Chunks cross the link; a cut link makes the executor hold within its policy_timeout, with no jump, and
motion resumes once it is restored; a policy host whose clock runs 2 s off the robot's keeps working (its
chunks carry the robot's stamps, the offset is reported), and one 30 s off is refused with a clear message.
Where namespaces cannot be made (no root or CAP_SYS_ADMIN) the tests skip with the reason."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fast_vla_ros.demo.episode_runner import NODE_OVERRIDES
from fast_vla_ros.demo.network_namespaces import namespaces_unavailable
from fast_vla_ros.demo.two_hosts import TwoHostLoop

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "config" / "sim.yaml"
POLICY_TIMEOUT_S = 1.0  # watchdog.policy_timeout in config/sim.yaml
MAX_STEP = 0.05  # rad per tick: safety.max_step in config/sim.yaml
UNAVAILABLE = namespaces_unavailable()


@pytest.fixture
def two_hosts(ros_env, tmp_path) -> Iterator[TwoHostLoop]:
    if UNAVAILABLE:
        pytest.skip(f"two hosts need network namespaces: {UNAVAILABLE}")
    with TwoHostLoop(ros_env, tmp_path, REPO_ROOT) as loop:
        loop.robot.start("sim_node", PARAMS, NODE_OVERRIDES["sim_node"])
        loop.robot.start("chunk_executor_node", PARAMS, {"diagnostics_period": "0.05"})
        yield loop


def test_chunks_cross_the_link_and_a_cut_link_holds_then_resumes(two_hosts):
    two_hosts.policy.start("policy_node", PARAMS)
    where = f"{two_hosts.link.a.namespace}:{two_hosts.link.a.interface}"
    result = two_hosts.probe("--seconds", "8", "--cut", where)
    assert result["armed"], result
    assert result["chunks"] >= 5, f"chunks did not cross the link: {result}"
    assert result["e2e_latency_ms_p50"] > 0, result
    assert result["hold_after_cut_s"] is not None and result["hold_after_cut_s"] <= POLICY_TIMEOUT_S + 0.1, result
    assert result["held_while_cut"], result
    assert result["resumed"], result
    assert result["max_step"] <= MAX_STEP + 1e-9, f"the arm jumped: {result}"


def test_a_policy_host_with_a_skewed_clock_is_corrected_or_refused_with_a_reason(two_hosts):
    env = two_hosts.env_a
    clock = subprocess.Popen(two_hosts.link.a.command([sys.executable, "test/ros/skewed_clock.py", "2.0"]),
                             cwd=REPO_ROOT, env=env)  # fmt: skip
    try:
        two_hosts.policy.start("policy_node", PARAMS, {"use_sim_time": "true"})
        corrected = two_hosts.probe("--seconds", "4")
        assert corrected["armed"] and corrected["chunks"] >= 3, f"2 s off, the loop must still run: {corrected}"
        assert corrected["policy_clock_offset_s"] == pytest.approx(2.0, abs=0.25), corrected
    finally:
        clock.terminate()
        clock.wait(timeout=10)
    clock = subprocess.Popen(two_hosts.link.a.command([sys.executable, "test/ros/skewed_clock.py", "30.0"]),
                             cwd=REPO_ROOT, env=env)  # fmt: skip
    try:
        refused = two_hosts.probe("--seconds", "1", "--seed", "920001", "--plan-timeout", "10")
        assert not refused["armed"], f"30 s off, the policy must refuse the robot's stamps: {refused}"
        assert "more than max_clock_offset" in refused["policy_status"], refused
    finally:
        clock.terminate()
        clock.wait(timeout=10)
