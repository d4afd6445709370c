"""Sampling text from a trained language model, one token per forward pass, the loop minGPT's
`generate` runs: the context's last `block_size` tokens in, the logits at its last position
out, divided by the temperature, one token drawn (the most likely one at temperature 0) and
appended. The model is any framework's, behind a function (`Forward`) the backend gives;
this loop is pure NumPy.

The model takes windows of exactly `block_size` tokens, so a shorter context fills the
window's start and the rest is padding: in a causal model (each position sees only itself
and the positions before it, as a language model is trained) the logits at the context's
last position do not depend on what comes after it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# A batch of token windows (N, block_size) -> logits (N, block_size, vocabulary).
Forward = Callable[[np.ndarray], np.ndarray]


def next_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """A token drawn from softmax(logits / temperature); the most likely at temperature 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    p = np.exp(scaled - scaled.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def generate(
    forward: Forward,
    prompt: Sequence[int],
    block_size: int,
    tokens: int,
    temperature: float,
    seed: int,
) -> list[int]:
    """`tokens` new token ids after `prompt` (not empty), the same for the same seed."""
    rng = np.random.default_rng(seed)
    ids = list(prompt)
    window = np.zeros((1, block_size), np.int64)
    for _ in range(tokens):
        context = ids[-block_size:]
        window[0, : len(context)] = context
        window[0, len(context) :] = 0
        logits = forward(window)[0, len(context) - 1]
        ids.append(next_token(logits, temperature, rng))
    return ids[len(prompt) :]
