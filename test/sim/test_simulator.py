"""The simulator's control interface: frames, determinism, limits, success on doing nothing, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.sim.simulator import ArmSimulator
from fast_vla_ros.sim.tasks import TASK_FAMILIES


@pytest.fixture(scope="module")
def sim():
    with ArmSimulator(image_size=(48, 64)) as simulator:
        yield simulator


def test_frames_are_rgb_uint8_of_the_configured_size(sim):
    sim.reset("touch", 0)
    for camera in sim.camera_names:
        frame = sim.render(camera)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert frame.std() > 10, f"{camera} frame is nearly uniform"
    with pytest.raises(KeyError, match="scene"):
        sim.render("ceiling")


def _rollout(seed: int, steps: int = 25) -> tuple[str, np.ndarray, list[np.ndarray]]:
    with ArmSimulator(image_size=(32, 32)) as simulator:
        instruction = simulator.reset("pick", seed)
        start = simulator.joint_positions()
        frames = []
        for k in range(steps):
            simulator.set_joint_targets(start + 0.01 * k)
            simulator.advance(0.02)
        frames = [simulator.render(c) for c in simulator.camera_names]
        return instruction, np.r_[simulator.joint_positions(), simulator.object_position(0)], frames


def test_same_seed_gives_the_same_states_and_frames():
    first, second, other = _rollout(7), _rollout(7), _rollout(8)
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    for a, b in zip(first[2], second[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("family", sorted(TASK_FAMILIES))
def test_doing_nothing_never_succeeds(sim, family):
    sim.reset(family, 3)
    sim.advance(3.0)
    assert sim.time == pytest.approx(3.0)
    assert not sim.success()


def test_joints_stay_within_limits_when_commanded_beyond_them(sim):
    """Targets are clipped to the limits; MuJoCo's limits are stiff springs, so a full-range step slammed
    into a stop may overshoot it by about half a degree (fingers: 2 mm), never more than ``slack``."""
    limits = sim.arm.limits
    slack = np.r_[np.full(6, 0.02), 0.003]
    sim.reset("touch", 1)
    for target in (limits.upper + 0.5, limits.lower - 0.5):
        sim.set_joint_targets(target)
        np.testing.assert_array_equal(sim.joint_targets(), np.clip(target, limits.lower, limits.upper))
        for _ in range(40):
            sim.advance(0.02)
            q = sim.joint_positions()
            assert np.all(q >= limits.lower - slack) and np.all(q <= limits.upper + slack), q


def test_unknown_task_names_the_known_ones(sim):
    with pytest.raises(KeyError, match="pick.*push.*touch"):
        sim.reset("juggle", 0)


def test_bad_targets_are_rejected_and_change_nothing(sim):
    sim.reset("push", 0)
    before = sim.joint_targets()
    with pytest.raises(ValueError, match="finite"):
        sim.set_joint_targets(np.full(7, np.nan))
    with pytest.raises(ValueError, match="7 joint targets"):
        sim.set_joint_targets(np.zeros(6))
    with pytest.raises(KeyError, match="elbow"):
        sim.set_joint_targets({"elbow": 0.1})
    np.testing.assert_array_equal(sim.joint_targets(), before)
    sim.set_joint_targets({"elbow_joint": 0.3})
    expected = before.copy()
    expected[sim.joint_names.index("elbow_joint")] = 0.3
    np.testing.assert_array_equal(sim.joint_targets(), expected)


def test_time_stays_exact_when_commanded_at_30_hz(sim):
    sim.reset("touch", 2)
    for _ in range(30):
        sim.advance(1 / 30)
    assert sim.time == pytest.approx(1.0, abs=sim.physics_dt / 2)


def test_success_needs_an_episode():
    with ArmSimulator() as fresh, pytest.raises(RuntimeError, match="reset"):
        fresh.success()
