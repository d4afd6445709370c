"""Which machines a run spans: `--nodes N --node-rank R --master HOST:PORT`, parsed and
checked. A run on several machines starts the same command on each: node 0 creates the
run folder (on a file system they all share), runs the run's rank 0 and hosts the
rendezvous at the master address; every other node joins it and trains its share."""

from __future__ import annotations

from dataclasses import dataclass

from tuitrain.core.errors import UserError

DEFAULT_PORT = 29500  # torchrun's


@dataclass(frozen=True)
class Nodes:
    """This machine's place among the machines of one run."""

    count: int
    rank: int
    host: str
    port: int

    @property
    def master(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def leads(self) -> bool:
        """Node 0: creates the run folder and runs rank 0, which writes it."""
        return self.rank == 0

    def joining(self, who: str) -> str:
        """What a machine other than node 0 prints as it joins: `who` trains here."""
        return (f"node {self.rank} of {self.count}: {who} joining the run at {self.master}; "
                "node 0 shows its progress (`tuitrain watch RUN` there)")

    def argv(self) -> list[str]:
        """The options that say so again, for the process this one starts."""
        return ["--nodes", str(self.count), "--node-rank", str(self.rank),
                "--master", self.master]


def parse_nodes(count: int | None, rank: int | None, master: str | None) -> Nodes | None:
    """The three options as one value; None for a run on this machine alone. One line of
    error, naming the option and what is valid, for anything else."""
    if count is None or count == 1:
        if rank not in (None, 0) or master is not None:
            raise UserError("--node-rank and --master are for a run on several machines; "
                            "add --nodes N (2 or more)")
        return None
    if count < 1:
        raise UserError(f"--nodes {count}: the number of machines; valid: 1 or more")
    if rank is None or master is None:
        raise UserError(f"--nodes {count} needs --node-rank R (0 on the machine that hosts "
                        "the run, 1.. on the others) and --master HOST:PORT (node 0's address)")
    if not 0 <= rank < count:
        raise UserError(f"--node-rank {rank}: valid: 0 to {count - 1} (with --nodes {count})")
    host, sep, port_text = master.rpartition(":")
    if not sep:
        host, port_text = master, str(DEFAULT_PORT)
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UserError(f"--master {master}: expected HOST:PORT, node 0's address as the "
                        f"other machines reach it, e.g. 10.0.0.1:{DEFAULT_PORT}")
    return Nodes(count, rank, host, int(port_text))
