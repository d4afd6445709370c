"""The TCP group that joins one process per machine through node 0 (core/tcp_group.py):
collectives in rank order, machines arriving in any order, a stray connection ignored, and a
machine that leaves ends the next collective on every other one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tuitrain.core.nodes import Nodes
from tuitrain.core.tcp_group import PeerLost, TcpGroup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_every_rank(count: int, work: Callable[[TcpGroup], Any], port: int | None = None,
                  order: list[int] | None = None) -> list[Any]:
    """`work(group)` on `count` ranks in threads (joining in `order`); each one's result or
    exception."""
    port = port or free_port()
    results: list[Any] = [None] * count

    def rank(r: int) -> None:
        try:
            group = TcpGroup.join(Nodes(count, r, "127.0.0.1", port), timeout=20)
            try:
                results[r] = work(group)
            finally:
                group.close()
        except Exception as exc:
            results[r] = exc

    threads = [threading.Thread(target=rank, args=(r,)) for r in (order or range(count))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_collectives_in_rank_order_whatever_the_arrival_order() -> None:
    def work(group: TcpGroup) -> Any:
        gathered = group.all_gather(f"rank {group.rank}")
        summed = group.all_sum(np.array([group.rank, 1.0]))
        told = group.broadcast({"path": "/runs/a"} if group.rank == 0 else None)
        return gathered, summed.tolist(), told, group.world_size, group.describe()

    results = on_every_rank(3, work, order=[2, 1, 0])
    for r in results:
        assert r == (["rank 0", "rank 1", "rank 2"], [3.0, 3.0], {"path": "/runs/a"}, 3,
                     "3 nodes")


def test_a_stray_connection_is_not_taken_for_a_machine() -> None:
    port = free_port()
    stray: list[socket.socket] = []

    def knock() -> None:  # connects first and says something that is no rank
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                threading.Event().wait(0.05)
                continue
            s.sendall(b'"hello"\n')
            stray.append(s)
            return

    t = threading.Thread(target=knock)
    t.start()
    threading.Event().wait(0.01)
    results = on_every_rank(2, lambda g: g.all_gather(g.rank), port=port, order=[0, 1])
    t.join()
    assert results == [[0, 1], [0, 1]]
    for s in stray:
        s.close()


def test_a_machine_that_leaves_ends_the_next_collective_elsewhere() -> None:
    def work(group: TcpGroup) -> Any:
        group.all_gather(group.rank)
        if group.rank == 1:
            return "left"  # closes its connection without joining the next collective
        return group.all_sum(np.zeros(1))

    results = on_every_rank(3, work)
    assert results[1] == "left"
    assert isinstance(results[0], PeerLost) and "node 1 left the run" in str(results[0])
    assert isinstance(results[2], PeerLost)  # rank 0 left it waiting: it is gone too


def test_a_machine_that_never_comes_is_named_after_the_timeout() -> None:
    port = free_port()
    with pytest.raises(PeerLost, match="1 of the run's other machines did not join at "
                                       rf"127.0.0.1:{port} within 1 s"):
        TcpGroup.join(Nodes(2, 0, "127.0.0.1", port), timeout=1)
