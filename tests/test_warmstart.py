"""Warm starts: copying trained weights into a new model (gray -> colour, deeper -> shallower)."""

import json

import numpy as np
import pytest

from denoise_tf import models
from denoise_tf.train import train
from denoise_tf.warmstart import copy_weights

from helpers import randomize
from test_train import tiny_config


def test_gray_to_colour_gives_the_gray_output_on_a_gray_image():
    gray = randomize(models.build("dncnn", depth=4, filters=8, channels=1))
    colour = models.build("dncnn", depth=4, filters=8, channels=3)
    assert copy_weights(colour, gray) == {"copied": 4 + 2, "inflated": 2, "skipped_source": 0}
    image = np.random.default_rng(1).random((1, 12, 10, 1), dtype=np.float32)
    expected = np.asarray(gray.predict_on_batch(image))
    out = np.asarray(colour.predict_on_batch(np.repeat(image, 3, axis=-1)))
    for c in range(3):
        np.testing.assert_allclose(out[..., c : c + 1], expected, rtol=1e-5)


def test_a_shallower_model_takes_the_first_middle_layers_and_the_last():
    deep = randomize(models.build("dncnn", depth=6, filters=8))
    shallow = models.build("dncnn", depth=4, filters=8)
    assert copy_weights(shallow, deep)["skipped_source"] == 4  # two conv + BN pairs left over
    deep_layers = [layer for layer in deep.layers if layer.weights]
    shallow_layers = [layer for layer in shallow.layers if layer.weights]
    for mine, theirs in zip(shallow_layers[:-1], deep_layers):
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(shallow_layers[-1].get_weights(), deep_layers[-1].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_incompatible_sources_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="at least as deep"):
        copy_weights(models.build("dncnn", depth=6, filters=8), models.build("dncnn", depth=4, filters=8))
    with pytest.raises(ValueError, match="cannot map"):
        copy_weights(models.build("dncnn", depth=4, filters=16), models.build("dncnn", depth=4, filters=8))
    with pytest.raises(ValueError, match="neither shipped weights"):
        copy_weights(models.build("dncnn", depth=4, filters=8), str(tmp_path / "nothing-here"))


def test_a_run_starts_from_init_weights_and_records_it(image_folder, tmp_path):
    source = randomize(models.build("dncnn", depth=3, filters=8))
    source.save(tmp_path / "source.keras")
    config = tiny_config(image_folder, tmp_path / "runs", init_weights=str(tmp_path / "source.keras"), epochs=1, steps_per_epoch=1)
    _, run_dir = train(config, verbose=0)
    record = json.loads((run_dir / "init_weights.json").read_text())
    assert record == {"source": str(tmp_path / "source.keras"), "copied": 4, "inflated": 0, "skipped_source": 0}
    assert json.loads((run_dir / "config.json").read_text())["init_weights"] == str(tmp_path / "source.keras")
