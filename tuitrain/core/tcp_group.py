"""The run's processes on several machines joined over TCP through node 0, for a framework
whose distributed engine carries gradients but nothing of the driver's own (TensorFlow's
MultiWorkerMirroredStrategy all-reduces inside its graphs; a stop, a block size or a run
folder's path are the driver's). A `Group` (core/group.py) with one process per machine.

Rank 0 listens at the master address; every other rank connects to it (retrying until the
rendezvous timeout: machines start in any order) and says its rank. Each collective is a
star: every rank sends its part, rank 0 gathers them in rank order and sends the whole list
back to every rank. Messages are JSON lines, never pickles: anyone who reaches the port could
send one. A rank whose process dies closes its connection, and the next collective on every
other rank raises `PeerLost` naming it (the run ends; no rank waits forever)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any, BinaryIO

import numpy as np

from tuitrain.core.nodes import Nodes

RENDEZVOUS_TIMEOUT = 600.0  # s for every machine to arrive, as torchrun's rendezvous


class PeerLost(RuntimeError):
    """Another machine's process left the run (its connection closed)."""


class TcpGroup:
    """This process's place among one process per machine, and the collectives over TCP."""

    def __init__(self, rank: int, world_size: int,
                 peers: list[tuple[socket.socket, BinaryIO]], address: str) -> None:
        self._rank = rank
        self._world = world_size
        # rank 0: ranks 1.. in order; the others: the connection to rank 0 (each socket read
        # through one buffered file only: a second would lose what the first read ahead)
        self._peers = [sock for sock, _ in peers]
        self._files = [f for _, f in peers]
        self.address = address  # this machine's address as the others reach it

    @classmethod
    def join(cls, nodes: Nodes, timeout: float = RENDEZVOUS_TIMEOUT) -> TcpGroup:
        """Meet every other machine's process at `nodes.master` (rank 0 hosts it)."""
        if nodes.leads:
            return cls._host(nodes, timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((nodes.host, nodes.port), timeout=5)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise PeerLost(f"node {nodes.rank} could not reach node 0 at {nodes.master} "
                                   f"within {timeout:.0f} s ({exc})") from None
                time.sleep(0.5)
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        f = sock.makefile("rwb")
        cls._send(f, nodes.rank)
        return cls(nodes.rank, nodes.count, [(sock, f)], sock.getsockname()[0])

    @classmethod
    def _host(cls, nodes: Nodes, timeout: float) -> TcpGroup:
        server = socket.create_server(("", nodes.port), reuse_port=False)
        server.settimeout(timeout)
        joined: dict[int, tuple[socket.socket, BinaryIO]] = {}
        try:
            while len(joined) < nodes.count - 1:
                try:
                    sock, _ = server.accept()
                except TimeoutError:
                    raise PeerLost(f"{nodes.count - 1 - len(joined)} of the run's other "
                                   f"machines did not join at {nodes.master} within "
                                   f"{timeout:.0f} s") from None
                sock.settimeout(10)  # a connection that says nothing is not a machine of ours
                f = sock.makefile("rwb")
                try:
                    rank = json.loads(f.readline() or b"null")
                except (OSError, ValueError):
                    rank = None
                if not isinstance(rank, int) or not 0 < rank < nodes.count or rank in joined:
                    sock.close()
                    continue
                sock.settimeout(None)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                joined[rank] = (sock, f)
        finally:
            server.close()
        return cls(0, nodes.count, [joined[r] for r in sorted(joined)], nodes.host)

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (JSON: numbers, strings, lists, dicts), in rank order."""
        if self._rank == 0:
            values = [value, *(self._receive(f, f"node {r}")
                               for r, f in enumerate(self._files, start=1))]
            for f in self._files:
                self._send(f, values)
            return values
        self._send(self._files[0], value)
        return self._receive(self._files[0], "node 0")

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        parts = self.all_gather(np.asarray(values, np.float64).tolist())
        return np.sum(np.array(parts, np.float64), axis=0)

    def broadcast(self, value: Any) -> Any:
        return self.all_gather(value if self._rank == 0 else None)[0]

    def describe(self) -> str:
        return f"{self._world} nodes"

    def close(self) -> None:
        """Leave: the others' next collective raises PeerLost (a socket read through a file
        stays open until the file closes too)."""
        for f, sock in zip(self._files, self._peers, strict=True):
            f.close()
            sock.close()

    @staticmethod
    def _send(f: BinaryIO, value: Any) -> None:
        try:
            f.write(json.dumps(value).encode() + b"\n")
            f.flush()
        except OSError as exc:
            raise PeerLost(f"the connection to another machine closed ({exc})") from None

    @staticmethod
    def _receive(f: BinaryIO, who: str) -> Any:
        try:
            line = f.readline()
        except OSError as exc:
            raise PeerLost(f"{who} left the run ({exc})") from None
        if not line:
            raise PeerLost(f"{who} left the run (its connection closed)")
        return json.loads(line)
