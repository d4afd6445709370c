"""The Sampler (core/sampler.py): the epoch orders, sharding across ranks, and the position a
checkpoint saves."""

from __future__ import annotations

import numpy as np
import pytest

from tuitrain.core.errors import UserError
from tuitrain.core.sampler import Sampler


def steps(sampler: Sampler, epoch: int) -> list[list[int]]:
    """Every step's row of the epoch, one call per step."""
    return [sampler.rows(epoch, s, 1)[0].tolist() for s in range(sampler.steps_per_epoch)]


def legacy_rows(seed: int, n: int, bs: int, epoch: int) -> list[list[int]]:
    """The order the driver used before the Sampler (trainer.py, `Trainer.order` and
    `next_block`): a permutation seeded by (seed, epoch), cut into batches, the short one last.
    Checkpoints written then resume only if the Sampler keeps it bit for bit."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + bs].tolist() for i in range(0, n, bs)]


@pytest.mark.parametrize(
    ("seed", "n", "bs"), [(0, 11, 2), (7, 100, 32), (123, 64, 16), (3, 5, 8), (42, 1000, 7)]
)
def test_one_process_is_the_order_from_before_bit_for_bit(seed: int, n: int, bs: int) -> None:
    sampler = Sampler(seed, n, bs)
    for epoch in range(3):
        assert steps(sampler, epoch) == legacy_rows(seed, n, bs, epoch)
        flat = [i for row in legacy_rows(seed, n, bs, epoch) for i in row]
        assert sampler.order(epoch).tolist() == flat


def test_blocks_of_steps_are_the_steps_one_by_one() -> None:
    sampler = Sampler(5, 23, 4)  # 5 full steps, then 3 samples
    block = sampler.rows(1, 1, 4)
    assert block.shape == (4, 4) and block.dtype == np.int64
    assert block.tolist() == steps(sampler, 1)[1:5]
    assert sampler.rows(1, 5, 1).shape == (1, 3)
    with pytest.raises(ValueError, match="runs alone"):
        sampler.rows(1, 4, 2)
    with pytest.raises(ValueError, match="outside"):
        sampler.rows(1, 6, 1)


def test_each_epoch_is_a_permutation_of_its_own() -> None:
    sampler = Sampler(0, 50, 10)
    orders = [sampler.order(e) for e in range(3)]
    assert all(sorted(o.tolist()) == list(range(50)) for o in orders)
    assert not np.array_equal(orders[0], orders[1])
    assert Sampler(0, 50, 10).order(1).tolist() == orders[1].tolist()  # pure, not stateful
    assert Sampler(1, 50, 10).order(0).tolist() != orders[0].tolist()


def test_no_shuffle_and_drop_last() -> None:
    plain = Sampler(9, 10, 4, shuffle=False)
    assert steps(plain, 0) == steps(plain, 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = Sampler(9, 10, 4, drop_last=True)
    assert dropped.steps_per_epoch == 2
    assert steps(dropped, 0) == legacy_rows(9, 10, 4, 0)[:2]


@pytest.mark.parametrize(
    ("n", "bs", "world"), [(96, 16, 4), (100, 16, 4), (41, 6, 3), (20, 8, 2), (1000, 64, 8)]
)
def test_ranks_share_every_global_batch_equally_and_disjointly(n: int, bs: int, world: int) -> None:
    single = Sampler(4, n, bs)
    ranks = [Sampler(4, n, bs, rank=r, world_size=world) for r in range(world)]
    assert {r.steps_per_epoch for r in ranks} == {single.steps_per_epoch}
    for epoch in range(2):
        per_rank = [steps(r, epoch) for r in ranks]
        for step, whole in enumerate(steps(single, epoch)):
            shares = [rows[step] for rows in per_rank]
            assert len({len(s) for s in shares}) == 1  # equal sizes
            together = [i for s in shares for i in s]
            assert len(set(together)) == len(together)  # disjoint
            # covering: the whole global batch, less what does not split evenly
            assert together == whole[: len(whole) - len(whole) % world]


@pytest.mark.parametrize(("n", "bs", "world", "rank", "shares"),
                         [(100, 16, 4, 0, 4), (41, 6, 3, 1, 2), (1000, 64, 8, 4, 2)])
def test_a_process_with_several_replicas_takes_their_shares_in_order(
        n: int, bs: int, world: int, rank: int, shares: int) -> None:
    """TensorFlow's MirroredStrategy: one process, one share per replica, each replica's
    share that of the DDP rank of the same number."""
    ranks = [Sampler(4, n, bs, rank=r, world_size=world) for r in range(world)]
    mine = Sampler(4, n, bs, rank=rank, world_size=world, shares=shares)
    assert mine.steps_per_epoch == ranks[0].steps_per_epoch
    for step, row in enumerate(steps(mine, 1)):
        assert row == [i for r in ranks[rank:rank + shares] for i in steps(r, 1)[step]]


def test_ranks_cover_the_epoch_when_it_splits_evenly() -> None:
    ranks = [Sampler(2, 90, 12, rank=r, world_size=3) for r in range(3)]  # last batch: 6
    seen = [i for r in ranks for row in steps(r, 0) for i in row]
    assert sorted(seen) == list(range(90))


def test_a_short_batch_too_small_to_share_is_not_run() -> None:
    ranks = [Sampler(0, 17, 8, rank=r, world_size=4) for r in range(4)]  # last batch: 1
    assert [r.steps_per_epoch for r in ranks] == [2] * 4
    assert Sampler(0, 17, 8).steps_per_epoch == 3


def test_bad_sharding_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="batch size 10 cannot be shared by 4 processes"):
        Sampler(0, 100, 10, world_size=4)
    with pytest.raises(UserError, match="rank 4 is out of range; valid: 0 to 3"):
        Sampler(0, 100, 8, rank=4, world_size=4)
    with pytest.raises(UserError, match="rank 3 is out of range; valid: 0 to 2"):
        Sampler(0, 100, 8, rank=3, world_size=4, shares=2)


def test_the_position_resumes_on_the_unseen_batches() -> None:
    sampler = Sampler(3, 103, 8)
    state = sampler.state_dict(2, 5)
    assert state == {"epoch": 2, "step": 5, "batch_size": 8}
    resumed = Sampler(3, 103, 8)
    epoch, step = resumed.position(dict(state))
    assert (epoch, step) == (2, 5)
    assert steps(sampler, 2)[5:] == [
        resumed.rows(epoch, s, 1)[0].tolist() for s in range(step, resumed.steps_per_epoch)
    ]


def test_the_position_in_a_smaller_batch_counts_the_same_samples() -> None:
    state = Sampler(3, 103, 8).state_dict(0, 5)  # 40 samples in
    half = Sampler(3, 103, 4)
    assert half.position(state) == (0, 10)
    assert half.rows(0, 10, 1)[0].tolist() == Sampler(3, 103, 8).order(0)[40:44].tolist()
    with pytest.raises(UserError, match="checkpoint is 40 samples into epoch 1"):
        Sampler(3, 103, 16).position(state)
