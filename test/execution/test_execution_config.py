"""Parameter loading: YAML-style dicts in, validated dataclasses out, with messages naming the parameter."""

import pytest

from fast_vla_ros.execution import ExecutionConfig, Strategy


def test_defaults_match_the_documented_control_rate():
    config = ExecutionConfig()
    assert config.scheduler.control_period == 0.02
    assert config.scheduler.strategy is Strategy.CROSSFADE


def test_from_mapping_converts_types_and_strategy_names():
    config = ExecutionConfig.from_mapping(
        {
            "scheduler": {"strategy": "temporal_ensemble", "crossfade_steps": 5.0, "lookahead": 0},
            "safety": {"max_step": 0.1},
            "watchdog": {"policy_timeout": 2},
        }
    )
    assert config.scheduler.strategy is Strategy.TEMPORAL_ENSEMBLE
    assert config.scheduler.crossfade_steps == 5 and isinstance(config.scheduler.crossfade_steps, int)
    assert config.scheduler.lookahead == 0.0
    assert config.safety.max_step == 0.1
    assert config.watchdog.policy_timeout == 2.0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"scheduler": {"stratgy": "replace"}}, "unknown parameters \\['stratgy'\\]"),
        ({"schedular": {}}, "unknown sections"),
        ({"scheduler": {"strategy": "blend"}}, "scheduler.strategy"),
        ({"scheduler": {"crossfade_steps": 2.5}}, "scheduler.crossfade_steps"),
        ({"scheduler": {"control_period": 0}}, "control_period must be > 0"),
        ({"safety": {"max_step": "big"}}, "safety.max_step"),
        ({"safety": {"position_margin_fraction": 0.5}}, "position_margin_fraction"),
        ({"watchdog": {"joint_state_timeout": -1}}, "joint_state_timeout"),
        ({"trajectory": {"goal_time_tolerance": -0.1}}, "goal_time_tolerance"),
        ({"safety": {"velocity_scale": True}}, "safety.velocity_scale"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(mapping, message):
    with pytest.raises(ValueError, match=message):
        ExecutionConfig.from_mapping(mapping)
