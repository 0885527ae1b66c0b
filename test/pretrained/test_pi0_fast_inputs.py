"""Prompt ids, state bins, images and the embodiment adapter of pi0-FAST checkpoints, per format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.policy.embodiment import Embodiment, EmbodimentError
from fast_vla_ros.policy.errors import ObservationError
from fast_vla_ros.policy.paligemma_stand_in import PALIGEMMA_VOCAB_SIZE, stand_in_tokenizer
from fast_vla_ros.policy.pi0_fast_images import resize_with_pad
from fast_vla_ros.policy.pi0_fast_prompt import LEGACY_PI0FAST, PI0_FAST, Pi0FastPrompt, state_bins
from fast_vla_ros.policy.pi0_fast_runtime import load_pi0_fast
from fast_vla_ros.policy.vocabulary import PromptVocabulary

from .conftest import CAMERAS, FAST_PLUS, INSTRUCTION, embodiment, observation

# Values on bin edges (-1, 0, 0.5) tell np.digitize from torch.bucketize; 1.2 lies beyond the statistics.
STATE = np.array([-1.0, 0.0, 0.5, 1.2])


def vocabulary(end_of_action: str) -> PromptVocabulary:
    tokenizer = stand_in_tokenizer(["pick up the cube", "Pick up the Cube"])
    return PromptVocabulary(tokenizer, PALIGEMMA_VOCAB_SIZE, 2048, 128, end_of_action)


def test_pi0_fast_prompt_ids_are_paligemmas() -> None:
    """The ids a pi0-FAST runtime's test publishes for this prompt, with LeRobot's second <bos> after it."""
    vocab = vocabulary("|")
    prompt = Pi0FastPrompt(vocab, PI0_FAST, max_text_tokens=200)
    # <bos> Task : ▁pick ▁up ▁cube , ▁State : ▁ 1 2 8 ▁ 2 5 5 ▁ 0 ; \n
    published = [2, 7071, 235292, 4788, 908, 28660, 235269, 3040, 235292, 235248, 235274, 235284, 235321, 235248]
    published += [235284, 235308, 235308, 235248, 235276, 235289, 108]
    state = np.array([0.0, 0.999, -1.0])  # bins 128, 255, 0
    assert prompt.prefix_ids("pick_up_cube", state, image_tokens=2) == [257152] * 2 + published + [2]
    assert prompt.forced_ids == [4022, 235292, 235248]  # Action : ▁
    assert vocab.end_of_action_id == 235371


def test_legacy_pi0fast_prompt_ids() -> None:
    vocab = vocabulary("<eos>")
    prompt = Pi0FastPrompt(vocab, LEGACY_PI0FAST, max_text_tokens=None)
    # <bos> Task : ▁pick ▁up ▁the ▁cube , ▁State : ▁- 1 ▁ 1 2 7 ▁ 1 9 1 ▁ 2 5 5 ; \n
    expected = [2, 7071, 235292, 4788, 908, 573, 28660, 235269, 3040, 235292, 728, 235274, 235248, 235274, 235284]
    expected += [235324, 235248, 235274, 235315, 235274, 235248, 235284, 235308, 235308, 235289, 108]
    assert prompt.prefix_ids(INSTRUCTION, STATE, image_tokens=2) == [257152] * 2 + expected
    assert vocab.end_of_action_id == 1


def test_state_padding_and_legacy_truncation_to_32_dimensions() -> None:
    assert state_bins(np.array([0.25]), PI0_FAST, pad_to=3).tolist() == [160, 128, 128]
    assert len(state_bins(np.zeros(40), LEGACY_PI0FAST)) == 32
    assert len(state_bins(np.zeros(40), PI0_FAST)) == 40


def test_oversized_prompt_is_refused_not_truncated() -> None:
    prompt = Pi0FastPrompt(vocabulary("|"), PI0_FAST, max_text_tokens=12)
    with pytest.raises(ObservationError, match="more than the 12"):
        prompt.prefix_ids(INSTRUCTION, STATE, image_tokens=1)


def test_padding_is_centred_for_pi0_fast_and_top_left_for_legacy() -> None:
    frame = np.full((2, 4, 3), 255, dtype=np.uint8)  # wide: 2 rows of padding at size 4
    centred = resize_with_pad(frame, 4, centred=True)[0]
    legacy = resize_with_pad(frame, 4, centred=False)[0]
    assert centred.sum(dim=1).tolist() == [0.0, 4.0, 4.0, 0.0]
    assert legacy.sum(dim=1).tolist() == [0.0, 0.0, 4.0, 4.0]


def test_missing_camera_left_out_for_pi0_fast_filled_black_for_legacy(write, tmp_path, text_tokenizer_dir) -> None:
    only_top = {CAMERAS[0]: "camera/scene/image_raw"}
    arm = embodiment(tmp_path / "arm.yaml", cameras=only_top)
    main = load_pi0_fast(write("pi0_fast"), arm, [text_tokenizer_dir], [FAST_PLUS])
    legacy = load_pi0_fast(write("pi0fast", empty_cameras=1), arm, [text_tokenizer_dir], [FAST_PLUS])
    assert main.config.cameras == ("top",) and main._images == [CAMERAS[0]]
    # The legacy format appends observation.images.empty_camera_0 and fills the first missing camera.
    assert legacy._images == [CAMERAS[0], None]
    _, prefix, pixels = legacy._preprocess(observation())
    assert pixels.shape[0] == 2 and bool((pixels[1] == -1).all())
    assert main.predict(observation()).timing.total_s > 0


def test_embodiment_conventions_give_absolute_targets(tmp_path) -> None:
    def arm(convention: str) -> Embodiment:
        return Embodiment.load(
            embodiment(
                tmp_path / f"{convention}.yaml",
                convention=convention,
                absolute_joints=["gripper"],
                actions=["shoulder", None, "wrist", "gripper"],
            )
        )

    actions = np.array([[0.1, 9.0, 0.2, 0.5], [0.3, 9.0, 0.4, 0.7]])
    positions = {"shoulder": 1.0, "elbow": 2.0, "wrist": 3.0, "gripper": 0.0}
    np.testing.assert_allclose(arm("absolute").joint_targets(actions, positions), [[0.1, 0.2, 0.5], [0.3, 0.4, 0.7]])
    np.testing.assert_allclose(arm("delta").joint_targets(actions, positions), [[1.1, 3.2, 0.5], [1.3, 3.4, 0.7]])
    # velocity at 10 Hz: rows are 0.1 s apart, the first already one step ahead
    np.testing.assert_allclose(
        arm("velocity").joint_targets(actions, positions), [[1.01, 3.02, 0.5], [1.04, 3.06, 0.7]]
    )
    assert arm("delta").commanded_joints == ("shoulder", "wrist", "gripper")


def test_embodiment_refuses_end_effector_actions_and_mismatched_sizes(
    tmp_path, checkpoints, text_tokenizer_dir
) -> None:
    with pytest.raises(EmbodimentError, match="inverse kinematics"):
        Embodiment.load(embodiment(tmp_path / "ee.yaml", convention="end_effector"))
    wrong = embodiment(tmp_path / "short.yaml", actions=["shoulder", "elbow"])
    with pytest.raises(EmbodimentError, match="actions list 2 entries, the checkpoint's action has 4"):
        load_pi0_fast(checkpoints["pi0_fast"], wrong, [text_tokenizer_dir], [FAST_PLUS])
    unknown = embodiment(tmp_path / "camera.yaml", cameras={"observation.images.side": "camera/side/image_raw"})
    with pytest.raises(EmbodimentError, match="not camera features of the checkpoint"):
        load_pi0_fast(checkpoints["pi0_fast"], unknown, [text_tokenizer_dir], [FAST_PLUS])
    with pytest.raises(EmbodimentError, match="needs an embodiment file"):
        load_pi0_fast(checkpoints["pi0_fast"], None, [text_tokenizer_dir], [FAST_PLUS])


def test_observation_missing_a_joint_is_refused(checkpoints, tmp_path, text_tokenizer_dir) -> None:
    policy = load_pi0_fast(
        checkpoints["pi0_fast"], embodiment(tmp_path / "arm.yaml"), [text_tokenizer_dir], [FAST_PLUS]
    )
    partial = observation()
    partial = type(partial)(partial.images, partial.state[:3], partial.joint_names[:3], partial.instruction, 0.0)
    with pytest.raises(ObservationError, match="lacks joints \\['gripper'\\]"):
        policy.predict(partial)


def test_shipped_example_embodiment_loads() -> None:
    example = Embodiment.load(Path(__file__).resolve().parents[2] / "config" / "embodiment.example.yaml")
    assert example.commanded_joints[-1] == "gripper" and example.dt == pytest.approx(1 / 15)
    assert len(example.state_joints) == 8 and example.convention == "delta"
