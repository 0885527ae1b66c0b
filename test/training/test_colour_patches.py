"""Per-patch colour labels: the hues, the patch order, the centroids, the head's loss and the hook."""

import colorsys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fast_vla_ros.sim.scene import COLOURS
from fast_vla_ros.sim.tasks import TASK_FAMILIES
from fast_vla_ros.training.colour_patches import (
    OBJECT_COLOURS,
    ColourPatchHead,
    NamedColourHead,
    captured_output,
    colour_patch_targets,
    hue_saturation_value,
    named_colour,
    named_colour_targets,
)

TABLE_RGB = (0.72, 0.6, 0.45)  # the simulator's table material
BAND = {band.name: index for index, band in enumerate(OBJECT_COLOURS)}
C = len(OBJECT_COLOURS)


def as_pixels(image: np.ndarray) -> torch.Tensor:
    """[S, S, 3] in [0, 1] -> the vision tower's [1, 3, S, S] in [-1, 1]."""
    return torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] * 2.0 - 1.0


def table(size: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(TABLE_RGB), (size, size, 3)).copy()


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.integers(0, 255)] * 3))
def test_hue_saturation_value_agree_with_colorsys(rgb8):
    rgb = tuple(channel / 255.0 for channel in rgb8)  # camera pixels are 8-bit
    hue, saturation, value = hue_saturation_value(torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1))
    expected = colorsys.rgb_to_hsv(*rgb)
    assert float(saturation) == pytest.approx(expected[1], abs=1e-5)
    assert float(value) == pytest.approx(expected[2], abs=1e-6)
    if expected[1] > 1e-3:  # hue is undefined for greys
        difference = abs(float(hue) - expected[0] * 360.0) % 360.0
        assert min(difference, 360.0 - difference) < 0.05


@pytest.mark.parametrize("colour", sorted(COLOURS))
@pytest.mark.parametrize("shade", [1.0, 0.45])  # lit face and a face in shadow
def test_each_object_colour_is_labelled_in_its_own_patch(colour, shade):
    image = table()
    image[18:22, 3:7] = np.array(COLOURS[colour]) * shade  # rows 18-21, columns 3-6: patch (row 1, col 0)
    targets = colour_patch_targets(as_pixels(image), patch_size=16)[0]
    presence = targets[:, :C]
    assert presence.sum() == 1 and presence[2, BAND[colour]] == 1  # row-major: patch index 1 * 2 + 0
    u, v = targets[2, C + 2 * BAND[colour] : C + 2 * BAND[colour] + 2].tolist()
    # The block's centre in the patch (column 5, row 20 -> 2, 4 within it) in [-1, 1] units.
    assert u == pytest.approx((5.0 - 8.0) / 8.0) and v == pytest.approx((4.0 - 8.0) / 8.0)


def test_table_arm_and_antialiased_edges_are_not_labelled():
    image = table()
    image[0:10, 0:10] = (0.15, 0.15, 0.17)  # finger
    image[0:10, 20:30] = (0.82, 0.84, 0.86)  # light arm links
    image[25, 25] = COLOURS["red"]  # a lone pixel: fewer than MIN_PIXELS
    image[26, 27] = COLOURS["red"]
    assert colour_patch_targets(as_pixels(image), patch_size=16)[..., :C].sum() == 0


def test_centroid_loss_ignores_patches_without_the_colour():
    torch.manual_seed(0)
    head = ColourPatchHead(hidden_size=8)
    tokens = torch.randn(2, 4, 8)
    targets = torch.zeros(2, 4, 3 * C)
    targets[0, 1, BAND["green"]] = 1.0
    targets[0, 1, C + 2 * BAND["green"] : C + 2 * BAND["green"] + 2] = torch.tensor([0.5, -0.25])
    with torch.no_grad():
        before = head.loss(tokens, targets)
        head.linear.bias[C:] += 3.0  # move the centroid outputs only: the loss may change through patch (0, 1) alone
        shifted = head.loss(tokens, targets)
        predicted_green = head(tokens)[0, 1, C + 2 * BAND["green"] : C + 2 * BAND["green"] + 2]
    expected_change = ((predicted_green - targets[0, 1, C + 2 * BAND["green"] :][:2]) ** 2).sum() - (
        (predicted_green - 3.0 - targets[0, 1, C + 2 * BAND["green"] :][:2]) ** 2
    ).sum()
    assert float(shifted - before) == pytest.approx(float(expected_change) / 2, rel=1e-4)


def test_captured_output_collects_during_the_block_only():
    layer = torch.nn.Linear(3, 2)
    with captured_output(layer) as outputs:
        first = layer(torch.ones(1, 3))
    layer(torch.zeros(1, 3))
    assert len(outputs) == 1 and torch.equal(outputs[0], first)


def test_every_simulator_instruction_names_its_targets_colour():
    rng = np.random.default_rng(3)
    for family in TASK_FAMILIES.values():
        for _ in range(20):
            episode = family.sample(rng)
            assert OBJECT_COLOURS[named_colour(episode.instruction)].name == episode.target.colour


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [("Push the BLUE block, then stop", BAND["blue"]), ("wave", -1), ("reddish thing", -1)],
)
def test_named_colour_matches_whole_words_only(instruction, expected):
    assert named_colour(instruction) == expected


def test_named_targets_are_the_named_colours_own_labels():
    image = table()
    image[2:6, 2:6] = COLOURS["red"]  # patch 0
    image[20:24, 26:30] = COLOURS["blue"]  # patch 3
    targets = colour_patch_targets(as_pixels(np.stack([image, image])[0]).repeat(2, 1, 1, 1), patch_size=16)
    presence, centroids = named_colour_targets(targets, torch.tensor([BAND["red"], BAND["blue"]]))
    assert presence[..., 0].tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]
    assert torch.equal(centroids[0, 0], targets[0, 0, C + 2 * BAND["red"] : C + 2 * BAND["red"] + 2])
    assert torch.equal(centroids[1, 3], targets[1, 3, C + 2 * BAND["blue"] : C + 2 * BAND["blue"] + 2])


def test_named_colour_loss_skips_frames_that_name_no_colour():
    torch.manual_seed(0)
    head = NamedColourHead(hidden_size=8)
    hidden, targets = torch.randn(2, 4, 8), torch.zeros(2, 4, 3 * C)
    targets[1, 2, BAND["green"]] = 1.0
    head.requires_grad_(False)
    both = head.loss(hidden, targets, torch.tensor([BAND["green"], BAND["green"]]))
    second_only = head.loss(hidden[1:], targets[1:], torch.tensor([BAND["green"]]))
    assert float(head.loss(hidden, targets, torch.tensor([-1, BAND["green"]]))) == pytest.approx(float(second_only))
    assert float(both) != pytest.approx(float(second_only))
    assert float(head.loss(hidden, targets, torch.tensor([-1, -1]))) == 0.0
