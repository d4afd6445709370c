"""The sampling loop (core/generation.py) with a stand-in model: it reads the logits at the
context's last position, keeps only the last `block_size` tokens as context, draws from the
softmax at the temperature (the most likely token at 0), and is the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from tuitrain.core.generation import generate, next_token

VOCAB = 7


class Successor:
    """A causal stand-in model: at each position, certainty that the next token is this
    position's token + 1 (mod VOCAB); it keeps each window it is given."""

    def __init__(self) -> None:
        self.seen: list[list[int]] = []

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        self.seen.append(windows[0].tolist())
        logits = np.full((*windows.shape, VOCAB), -30.0, np.float32)
        n, t = np.indices(windows.shape)
        logits[n, t, (windows + 1) % VOCAB] = 30.0
        return logits


def test_greedy_continues_from_the_last_position_of_a_sliding_window() -> None:
    model = Successor()
    assert generate(model, [3, 5], block_size=4, tokens=6, temperature=0, seed=0) == [
        6, 0, 1, 2, 3, 4,
    ]  # fmt: skip
    assert model.seen[:3] == [[3, 5, 0, 0], [3, 5, 6, 0], [3, 5, 6, 0]]  # padded after it
    assert model.seen[-1] == [0, 1, 2, 3]  # only the last block_size tokens


def test_sampling_follows_the_temperature_and_the_seed() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    rng = np.random.default_rng(0)
    draws = [next_token(logits, 1.0, rng) for _ in range(20_000)]
    shares = np.bincount(draws, minlength=3) / len(draws)
    assert shares == pytest.approx([0.5, 0.3, 0.2], abs=0.015)
    assert [next_token(logits, 0.05, rng) for _ in range(200)].count(0) > 195
    assert next_token(logits, 0, rng) == 0

    def uniform(windows: np.ndarray) -> np.ndarray:
        return np.zeros((*windows.shape, VOCAB), np.float32)

    first = generate(uniform, [1], block_size=8, tokens=30, temperature=1.0, seed=4)
    assert first == generate(uniform, [1], block_size=8, tokens=30, temperature=1.0, seed=4)
    assert first != generate(uniform, [1], block_size=8, tokens=30, temperature=1.0, seed=5)
