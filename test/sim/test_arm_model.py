"""The MJCF arm and config/sim_arm_limits.yaml must describe the same joints and ranges."""

import dataclasses

import numpy as np
import pytest

from fast_vla_ros.sim.arm_model import default_limits, load_arm_model


def test_model_matches_limits_yaml():
    limits = default_limits()
    arm = load_arm_model(limits)
    assert arm.joint_names == limits.joint_names
    model = arm.model
    for i, name in enumerate(limits.joint_names):
        assert tuple(model.joint(name).range) == pytest.approx((limits.lower[i], limits.upper[i]))
        actuator = model.actuator(int(arm.actuator_ids[i]))
        assert tuple(actuator.ctrlrange) == pytest.approx((limits.lower[i], limits.upper[i]))


def test_physics_runs_at_500_hz_or_faster():
    assert load_arm_model().model.opt.timestep <= 0.002


def test_mismatched_limits_are_rejected_with_the_joint_named():
    limits = default_limits()
    upper = limits.upper.copy()
    upper[2] += 0.1
    with pytest.raises(ValueError, match="elbow_joint"):
        load_arm_model(dataclasses.replace(limits, upper=upper))


def test_unknown_joint_is_rejected():
    limits = default_limits()
    names = ("shoulder_yaw_joint", *limits.joint_names[1:])
    with pytest.raises(ValueError, match="shoulder_yaw_joint"):
        load_arm_model(dataclasses.replace(limits, joint_names=names))


def test_home_pose_is_inside_limits():
    from fast_vla_ros.sim.arm_model import HOME_POSITIONS

    limits = default_limits()
    assert np.all(HOME_POSITIONS >= limits.lower) and np.all(HOME_POSITIONS <= limits.upper)
