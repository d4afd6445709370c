"""`python -m tuitrain.backends.probe FRAMEWORK`: print the devices one framework sees, as
JSON. Run in a child process so that detection never imports a framework into the caller."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tuitrain.backends.probe FRAMEWORK", file=sys.stderr)
        return 2
    from tuitrain import backends
    from tuitrain.core.errors import UserError

    try:
        backend = backends.load(argv[0])
        payload = {"framework": argv[0], "versions": backend.versions(),
                   "devices": [asdict(d) for d in backend.devices()]}
    except UserError as exc:
        payload = {"framework": argv[0], "error": str(exc), "devices": []}
    print(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
