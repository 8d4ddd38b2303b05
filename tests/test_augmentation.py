"""Augmentation: validated config, distortions that do what they say, draws fixed by the batch seed."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn import config
from mnist_cnn.config import Augmentation, ConfigError, Elastic


@pytest.mark.parametrize(
    "text,expected",
    [
        ("data: {augmentation: {rotaton: 10}}", "augmentation.rotaton (line 1): unknown key (did you mean 'rotation'"),
        ("data: {augmentation: {rotation: 200}}", "data.augmentation.rotation (line 1): 200.0 is out of range"),
        ("data: {augmentation: {shift: -1}}", "data.augmentation.shift (line 1): -1.0 is out of range"),
        ("data: {augmentation: {elastic: {alpha: 8, sigma: 0}}}", "augmentation.elastic.sigma (line 1): 0.0 is out"),
        ("data: {augmentation: {probability: 0}}", "data.augmentation.probability (line 1): 0.0 is out of range"),
        ("data: {augmentation: {zoom: lots}}", "data.augmentation.zoom (line 1): expected a number, got text 'lots'"),
        ("data: {augmentation: {probability: 0.5}}", "data.augmentation: no distortion set"),
        ("data: {augmentation: {thickness: 2.5}}", "data.augmentation.thickness (line 1): 2.5 is out of range"),
        ("data: {augmentation: {resolution: 28}}", "data.augmentation.resolution (line 1): 28.0 is out of range"),
    ],
)
def test_bad_augmentation_is_one_clear_line(text, expected):
    with pytest.raises(ConfigError) as info:
        config.loads(text)
    assert expected in str(info.value)


def test_augmentation_is_off_by_default_and_round_trips(tmp_path):
    assert config.Config().data.augmentation is None
    cfg = config.load("configs/chollet-robust.yaml")
    assert cfg.data.augmentation.rotation == 30 and cfg.data.augmentation.elastic == Elastic(alpha=24.0, sigma=4.0)
    assert config.loads(config.to_yaml(cfg)) == cfg


def _digit() -> np.ndarray:
    """A bar off-centre: rotations, shifts and thickness changes all move its pixels."""
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 6:22, 12:15] = 1.0
    x[:, 6:9, 12:20] = 1.0
    return x


def _augment(aug: Augmentation, seed=(1, 2), x=None):
    import tensorflow as tf

    from mnist_cnn.data.augmentation import augment_batch

    x = _digit() if x is None else x
    return augment_batch(tf.constant(x), tf.constant(seed, tf.int64), aug).numpy()


FULL = Augmentation(rotation=20, shift=3, zoom=0.2, shear=15, elastic=Elastic(24, 4), thickness=0.8, blur=1.2)


def test_same_seed_same_images_other_seed_other_images():
    first, again, other = _augment(FULL), _augment(FULL), _augment(FULL, seed=(1, 3))
    assert first.tobytes() == again.tobytes()
    assert not np.allclose(first, other)
    assert first.shape == (4, 28, 28, 1) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert not np.allclose(first[0], first[1]), "each image in a batch gets its own draw"


def test_zero_amounts_leave_images_unchanged():
    x = _digit()
    assert np.allclose(_augment(Augmentation(rotation=1e-9, shift=0.0), x=x), x, atol=1e-5)


def test_shift_moves_ink_and_thickness_changes_ink_mass():
    x = _digit()
    shifted = _augment(Augmentation(shift=3), x=x)
    assert not np.allclose(shifted, x) and abs(shifted.sum() - x.sum()) / x.sum() < 0.35
    thick = _augment(Augmentation(thickness=1.0), seed=(5, 5), x=x)
    mass = thick.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert (mass > 1.05).any() and (mass < 0.95).any(), "strokes get both thicker and thinner"


def test_probability_keeps_a_share_of_images_clean():
    x = np.repeat(_digit(), 64, axis=0)
    out = _augment(Augmentation(probability=0.5, rotation=30), x=x)
    clean = np.mean([np.array_equal(a, b) for a, b in zip(out, x, strict=True)])
    assert 0.3 < clean < 0.7


def test_batch_seed_depends_on_seed_epoch_and_batch():
    from mnist_cnn.data.pipeline import batch_seed

    seeds = {tuple(batch_seed(s, e, b).numpy()) for s in (1, 2) for e in (0, 1) for b in (0, 1)}
    assert len(seeds) == 8
    assert tuple(batch_seed(1, 1, 1).numpy()) == tuple(batch_seed(1, 1, 1).numpy())


def test_thickness_beyond_one_continues_into_a_second_pass():
    import tensorflow as tf

    from mnist_cnn.data.augmentation import change_thickness

    x = _digit()[:1].repeat(5, axis=0)
    out = change_thickness(tf.constant(x[..., 0]), tf.constant([-1.0, 0.0, 1.0, 1.5, 2.0]), second_pass=True).numpy()
    mass = out.sum(axis=(1, 2))
    assert list(np.argsort(mass)) == [0, 1, 2, 3, 4], "more thickness, more ink"
    assert np.isclose(mass[3], (mass[2] + mass[4]) / 2, rtol=1e-5), "1.5 is halfway between one pass and two"


def test_low_resolution_is_the_area_then_bilinear_round_trip():
    """Side 28 changes nothing; at whole-number factors it equals Pillow's BOX-down, BILINEAR-up."""
    import tensorflow as tf
    from PIL import Image

    from mnist_cnn.data.augmentation import lower_resolution

    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    out = lower_resolution(tf.constant(x), tf.constant([28, 14, 7])).numpy()
    assert np.allclose(out[0], x[0], atol=1e-6)
    for image, result, side in zip(x[1:], out[1:], (14, 7), strict=True):
        pillow = Image.fromarray(image).resize((side, side), Image.Resampling.BOX)
        expected = np.asarray(pillow.resize((28, 28), Image.Resampling.BILINEAR))
        assert np.allclose(result, expected, atol=1e-5)
        assert not np.allclose(result, image, atol=0.05), "detail is lost"


def test_resolution_draws_each_image_its_own_side():
    x = np.repeat(_digit(), 16, axis=0)
    out = _augment(Augmentation(resolution=4), x=x)
    distinct = {np.round(image, 4).tobytes() for image in out}
    assert len(distinct) > 5
