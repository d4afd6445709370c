"""Layer stacks that use every registered layer type and every activation, in stacks the
shipped presets do not use, nesting included: built by every backend in tests/test_layers.py
and compared with the neutral parameter counts in tests/test_backend_tensorflow.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


# The CIFAR ResNet basic block: conv-bn-relu-conv-bn, add the input, relu.
def basic_block(filters: int, stride: int = 1) -> dict[str, Any]:
    """One basic block; with a stride its first convolution shrinks the image, and the
    shortcut becomes a strided 1x1 convolution."""
    conv = {"type": "conv2d", "filters": filters, "padding": "same"}
    return {
        "type": "residual",
        "activation": "relu",
        "layers": [
            {**conv, "stride": stride},
            {"type": "batchnorm"},
            {"type": "activation", "name": "relu"},
            conv,
            {"type": "batchnorm"},
        ],
    }


# On the digits dataset (8 x 8 x 1 images), except those in TOKEN_INPUT (12 tokens below 50).
EXTRA_STACKS: dict[str, list[dict[str, Any]]] = {
    "image-stack": [
        {
            "type": "conv2d",
            "filters": 8,
            "kernel_size": 3,
            "padding": "same",
            "activation": "leaky_relu",
        },
        {"type": "batchnorm"},
        {"type": "activation", "name": "silu"},
        {"type": "avgpool2d", "pool_size": 2, "stride": 1},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "dense", "units": 4, "activation": "gelu"},
        {"type": "reshape", "shape": [9, 4]},
        {"type": "gru", "units": 6, "return_sequences": True},
        {"type": "batchnorm"},
        {"type": "lstm", "units": 5},
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": "auto", "activation": "softmax", "bias": False},
    ],
    "pool-stack": [
        {
            "type": "conv2d",
            "filters": 6,
            "kernel_size": 2,
            "stride": 2,
            "activation": "elu",
            "bias": False,
        },
        {"type": "globalavgpool2d"},
        {"type": "activation", "name": "sigmoid"},
        {"type": "activation", "name": "leaky_relu"},
        {"type": "activation", "name": "linear"},
        {"type": "dense", "units": 7, "activation": "tanh"},
        {"type": "activation", "name": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": "auto"},
    ],
    "token-stack": [
        {"type": "embedding", "input_dim": 50, "output_dim": 8},
        {"type": "lstm", "units": 4},
        {"type": "dense", "units": "auto"},
    ],
    "nested-stack": [
        {
            "type": "sequential",
            "layers": [
                {"type": "conv2d", "filters": 4, "padding": "same", "activation": "relu"},
                {
                    "type": "sequential",
                    "layers": [
                        {"type": "batchnorm"},
                        {"type": "maxpool2d", "pool_size": 2},
                    ],
                },
            ],
        },
        {"type": "flatten"},
        {
            "type": "sequential",
            "layers": [
                {"type": "dense", "units": 8, "activation": "leaky_relu"},
                {"type": "dropout", "rate": 0.1},
            ],
        },
        {"type": "dense", "units": "auto"},
    ],
    "residual-stack": [
        {"type": "conv2d", "filters": 4, "padding": "same"},
        {"type": "batchnorm"},
        {"type": "activation", "name": "relu"},
        basic_block(4),  # identity shortcut
        basic_block(8, stride=2),  # 8x8x4 -> 4x4x8: 1x1 conv, stride 2
        {"type": "globalavgpool2d"},
        {"type": "residual", "layers": [{"type": "dense", "units": 6}]},  # dense shortcut
        {"type": "dense", "units": "auto"},
    ],
    "transformer-stack": [
        {"type": "embedding", "input_dim": 50, "output_dim": 8},
        {"type": "posembedding"},
        {"type": "transformer", "heads": 2, "causal": True},
        {"type": "transformer", "heads": 4, "mlp_ratio": 2},
        {"type": "layernorm"},
        {"type": "conv1d", "filters": 6, "kernel_size": 3, "activation": "relu", "bias": False},
        {"type": "conv1d", "filters": 6, "kernel_size": 2, "stride": 2, "padding": "same"},
        {"type": "attention", "heads": 3},
        {"type": "globalavgpool1d"},
        {"type": "dense", "units": "auto"},
    ],
    # tokens below 3 scored over the same 3 tokens, as the 3 classes
    "tied-stack": [
        {
            "type": "tied_embedding",
            "input_dim": 3,
            "output_dim": 8,
            "layers": [
                {"type": "posembedding"},
                {"type": "transformer", "heads": 2, "causal": True},
                {"type": "globalavgpool1d"},
            ],
        }
    ],
}
# The input shape of the stacks that take tokens.
TOKEN_INPUT = {"token-stack": (12,), "transformer-stack": (12,), "tied-stack": (12,)}


def layer_types(layers: list[dict[str, Any]]) -> Iterator[str]:
    """Every layer type in a stack, nested ones included."""
    for layer in layers:
        yield layer["type"]
        yield from layer_types(layer.get("layers", []))
