"""Fault injection for the reliability tests (a test hook, not a feature).

`TUITRAIN_FAULT` in the runner's environment holds comma-separated `kind:step` items; `step`
is the 1-based global step the fault hits (the step about to run):

- `nan_at_step:K`   the batch of step K is multiplied by inf, so its loss is not finite
- `oom_at_step:K`   step K raises the framework's typed out-of-memory error
- `hang_at_step:K`  step K sleeps forever (a framework call that never returns)
- `stop_at_step:K`  a graceful stop is requested after step K (as the control file would)
- `ckpt_every:N`    a checkpoint after every N-th step (saves often, for kill tests)
- `enospc_from_step:K`  every checkpoint write from step K on fails with ENOSPC (disk full)
- `stall_write_at_step:K`  the background write of step K's checkpoint never finishes (a
                    stalled disk): training goes on until the next save waits for it
- `replicas_every:N`  on several processes, every N-th step each rank's weights are compared
                    with rank 0's (a hash), and a difference fails the run

Each fault fires once per runner process. Unset (the normal case), this costs one dict
lookup per step."""

from __future__ import annotations

import os

KINDS = ("nan_at_step", "oom_at_step", "hang_at_step", "stop_at_step", "ckpt_every",
         "enospc_from_step", "stall_write_at_step", "replicas_every")


def parse(text: str | None) -> dict[str, int]:
    """`"nan_at_step:37,ckpt_every:2"` -> {"nan_at_step": 37, "ckpt_every": 2}."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        kind, _, value = item.strip().partition(":")
        if kind in KINDS and value.strip().isdigit():
            out[kind] = int(value)
    return out


_ACTIVE: dict[str, int] | None = None


def from_env() -> dict[str, int]:
    """The process's faults: one shared dict, so that a fault the trainer removes once it has
    fired stays gone for the trainer of an --auto-batch retry."""
    global _ACTIVE
    if _ACTIVE is None:
        _ACTIVE = parse(os.environ.get("TUITRAIN_FAULT"))
    return _ACTIVE
