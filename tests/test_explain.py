"""What the network sees, on tiny models built here: layer discovery, occlusion saliency, feature maps, panels."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from mnist_cnn.config import LayerSpec, ModelConfig
from mnist_cnn.explain.explainer import Explainer
from mnist_cnn.explain.features import KerasFeatures
from mnist_cnn.explain.layers import discover, first_kernels
from mnist_cnn.explain.saliency import PATCH, occlusion_map
from mnist_cnn.models import PRESETS, build_model

# Each preset shrunk to a few filters (same layer structure), and the layers its panel must show.
EXPECTED = {
    "chollet": [("conv1", "Conv2D", (26, 26, 2)), ("pool1", "MaxPooling2D", (13, 13, 2)),
                ("conv2", "Conv2D", (11, 11, 3)), ("pool2", "MaxPooling2D", (5, 5, 3))],
    "tf-5x5-dense1024": [("conv1", "Conv2D", (24, 24, 2)), ("pool1", "MaxPooling2D", (12, 12, 2)),
                         ("conv2", "Conv2D", (8, 8, 3)), ("pool2", "MaxPooling2D", (4, 4, 3))],
    "dlwp": [("conv1", "Conv2D", (26, 26, 2)), ("pool1", "MaxPooling2D", (13, 13, 2)),
             ("conv2", "Conv2D", (11, 11, 3)), ("pool2", "MaxPooling2D", (5, 5, 3)), ("conv3", "Conv2D", (3, 3, 4))],
}  # fmt: skip
CUSTOM = [
    LayerSpec("Conv2D", {"filters": 3, "kernel_size": 3, "activation": "relu", "name": "edges"}),
    LayerSpec("BatchNormalization", {}),
    LayerSpec("AveragePooling2D", {"pool_size": 2, "name": "avg"}),
    LayerSpec("SeparableConv2D", {"filters": 4, "kernel_size": 3, "activation": "relu", "name": "sep"}),
    LayerSpec("DepthwiseConv2D", {"kernel_size": 3, "name": "depth"}),
    LayerSpec("GlobalMaxPooling2D", {"name": "global"}),  # no 2-D maps: not shown
    LayerSpec("Dense", {"units": 10, "activation": "softmax"}),
]


def tiny(name: str):
    filters = {"chollet": [2, 3], "tf-5x5-dense1024": [2, 3], "dlwp": [2, 3, 4]}[name]
    extra = {"dense_units": 8} if name != "chollet" else {}
    return build_model(ModelConfig(name=name, filters=filters, **extra))


def test_every_preset_is_covered():
    assert set(EXPECTED) == set(PRESETS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layer_discovery_finds_every_conv_and_pool_layer_of_each_preset(name):
    found = [(layer.name, layer.kind, layer.shape) for layer in discover(tiny(name))]
    assert found == EXPECTED[name]


def test_layer_discovery_on_a_custom_stack_skips_layers_without_feature_maps():
    model = build_model(ModelConfig(name="custom", layers=CUSTOM))
    found = [(layer.name, layer.kind, layer.shape) for layer in discover(model)]
    assert found == [
        ("edges", "Conv2D", (26, 26, 3)),
        ("avg", "AveragePooling2D", (13, 13, 3)),
        ("sep", "SeparableConv2D", (11, 11, 4)),
        ("depth", "DepthwiseConv2D", (9, 9, 4)),
    ]


def test_keras_feature_maps_are_the_layers_own_outputs():
    import keras

    model = build_model(ModelConfig(name="custom", layers=CUSTOM))
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    probs, maps = KerasFeatures(model).outputs(images)
    np.testing.assert_allclose(probs, model(images, training=False), rtol=1e-6, atol=1e-7)
    for name, values in zip(["edges", "avg", "sep", "depth"], maps, strict=True):
        direct = keras.Model(model.inputs[0], model.get_layer(name).output)(images, training=False)
        np.testing.assert_allclose(values, direct, rtol=1e-5, atol=1e-6)


def test_first_kernels_are_the_first_convolutions_weights():
    model = tiny("chollet")
    name, kernels = first_kernels(model)
    assert name == "conv1" and kernels.shape == (3, 3, 1, 2)
    np.testing.assert_array_equal(kernels, model.get_layer("conv1").get_weights()[0])
    flat = [LayerSpec("Flatten", {}), LayerSpec("Dense", {"units": 10, "activation": "softmax"})]
    dense_only = build_model(ModelConfig(name="custom", layers=flat))
    assert first_kernels(dense_only) is None and discover(dense_only) == []


REGION = (slice(4, 10), slice(18, 24))  # the only pixels the fake model below looks at


class RegionRuntime:
    """Class 3's logit is the ink inside REGION; every other class has logit 0. Counts its calls."""

    name = "numpy"

    def __init__(self):
        self.calls = 0

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        logits = np.zeros((len(images), 10), np.float64)
        logits[:, 3] = images[:, REGION[0], REGION[1], 0].sum(axis=(1, 2))
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def test_occlusion_saliency_peaks_on_the_region_the_answer_depends_on_in_one_runtime_call():
    image = np.random.default_rng(1).uniform(0.3, 1.0, (28, 28)).astype(np.float32)  # ink everywhere
    runtime = RegionRuntime()
    base = runtime.probabilities(image[np.newaxis, ..., np.newaxis])[0]
    assert int(np.argmax(base)) == 3
    saliency = occlusion_map(runtime.probabilities, image, base)
    assert runtime.calls == 2  # the base, then every occluded copy in one batch
    row, col = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert REGION[0].start <= row < REGION[0].stop and REGION[1].start <= col < REGION[1].stop
    inside = np.zeros((28, 28), bool)
    inside[REGION] = True
    far = np.ones((28, 28), bool)
    reach = PATCH - 1  # a patch overlapping the region's edge shares its effect with pixels this far out
    far[REGION[0].start - reach : REGION[0].stop + reach, REGION[1].start - reach : REGION[1].stop + reach] = False
    assert saliency[inside].min() > 0
    assert np.abs(saliency[far]).max() == 0


def test_blank_image_has_zero_saliency_without_calling_the_runtime_for_occlusions():
    runtime = RegionRuntime()
    image = np.zeros((28, 28), np.float32)
    base = runtime.probabilities(image[np.newaxis, ..., np.newaxis])[0]
    saliency = occlusion_map(runtime.probabilities, image, base)
    assert runtime.calls == 1 and not saliency.any()


def test_explanation_json_is_strict_and_holds_maps_saliency_and_per_layer_maxima():
    model = tiny("chollet")
    from mnist_cnn.inference.runtimes import KerasRuntime

    runtime = KerasRuntime(model)
    explainer = Explainer(runtime, KerasFeatures(model))
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0
    explanation = explainer.explain(image)
    result = explanation.with_maps()
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text)["feature_maps_missing"] is None
    assert np.asarray(result["saliency"]["grid"]).shape == (28, 28)
    for entry, values in zip(result["layers"], explanation.maps, strict=True):
        height, width, channels = entry["shape"]
        tiles = np.frombuffer(base64.b64decode(entry["maps"]), np.uint8).reshape(channels, height, width)
        assert entry["max_activation"] == pytest.approx(float(values.max()), abs=1e-5)
        assert len(entry["channel_max"]) == channels
        if entry["max_activation"] > 0:
            assert tiles.max() == 255  # scaled to the layer's maximum
    np.testing.assert_array_equal(explanation.probabilities, runtime.probabilities(image[None, ..., None])[0])


def test_without_a_feature_source_the_explanation_says_what_to_run():
    explainer = Explainer(RegionRuntime(), None, "no feature maps; run: mnist-cnn export RUN --format onnx")
    result = explainer.explain(np.ones((28, 28), np.float32)).with_maps()
    assert result["layers"] == [] and "mnist-cnn export" in result["feature_maps_missing"]


def test_panel_png_is_written_for_an_explanation(tmp_path):
    from PIL import Image

    from mnist_cnn.explain.panel import write_panel

    model = tiny("dlwp")
    from mnist_cnn.inference.runtimes import KerasRuntime

    explanation = Explainer(KerasRuntime(model), KerasFeatures(model)).explain(np.eye(28, dtype=np.float32))
    write_panel(explanation, tmp_path / "panel.png", title="eye")
    with Image.open(tmp_path / "panel.png") as img:
        assert img.size[0] > 500 and img.size[1] > 500
        assert len(img.convert("RGB").getcolors(1 << 20)) > 50  # tiles, heat and text, not a blank page


def test_filters_png_shows_the_first_layers_kernels(tmp_path):
    from PIL import Image

    from mnist_cnn.plots import plot_first_layer_filters

    assert plot_first_layer_filters(tiny("chollet"), tmp_path / "filters.png")
    with Image.open(tmp_path / "filters.png") as img:
        assert img.size[0] > 100
