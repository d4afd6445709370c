"""`tuitrain` exactly as its console script runs it, plus a thread that writes which ML
frameworks are in `sys.modules` after the first screen has been up for a while."""

import json
import sys
import threading
import time

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


def report(path: str, after: float) -> None:
    time.sleep(after)
    loaded = sorted(m for m in list(sys.modules) if m.split(".")[0] in FRAMEWORKS)
    with open(path, "w") as f:
        json.dump({"frameworks": sorted({m.split(".")[0] for m in loaded}),
                   "modules": len(sys.modules)}, f)


if __name__ == "__main__":
    out, after = sys.argv[1], float(sys.argv[2])
    threading.Thread(target=report, args=(out, after), daemon=True).start()
    from tuitrain.cli.main import main

    sys.exit(main(sys.argv[3:]))
