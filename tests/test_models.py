"""Every architecture builds with the published parameter count and a 10-way softmax output."""

from __future__ import annotations

import pytest

from mnist_cnn.config import ConfigError, LayerSpec, ModelConfig
from mnist_cnn.models import build_model

PUBLISHED = {"chollet": 34_826, "tf-5x5-dense1024": 1_111_946, "dlwp": 93_322}


@pytest.mark.parametrize("name,params", PUBLISHED.items())
def test_preset_parameter_counts(name, params):
    model = build_model(ModelConfig(name=name))
    assert model.count_params() == params
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 10)


def test_preset_hyper_parameters_override():
    model = build_model(ModelConfig(name="chollet", filters=[16, 32], dropout=0.25))
    # conv 3*3*1*16+16, conv 3*3*16*32+32, dense 5*5*32*10+10
    assert model.count_params() == 160 + 4640 + 8010
    assert model.get_layer("dropout").rate == 0.25


def test_wrong_number_of_filters_is_a_config_error():
    with pytest.raises(ConfigError, match="chollet has 2 conv layers, got 3"):
        build_model(ModelConfig(name="chollet", filters=[8, 8, 8]))


def test_custom_model_builds_from_layer_list():
    layers = [
        LayerSpec("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
        LayerSpec("BatchNormalization", {}),
        LayerSpec("GlobalAveragePooling2D", {}),
        LayerSpec("Dense", {"units": 10, "activation": "softmax"}),
    ]
    model = build_model(ModelConfig(name="custom", layers=layers))
    assert model.count_params() == 80 + 32 + 90


@pytest.mark.parametrize(
    "layers,message",
    [
        ([LayerSpec("Dense", {"unitz": 10})], "model.layers[0] (Dense)"),
        ([LayerSpec("Flatten", {}), LayerSpec("Dense", {"units": 7, "activation": "softmax"})], "output shape is (7,)"),
        ([LayerSpec("Flatten", {}), LayerSpec("Dense", {"units": 10})], "must use activation 'softmax'"),
    ],
)
def test_custom_model_errors(layers, message):
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(name="custom", layers=layers))
    assert message in str(info.value)
