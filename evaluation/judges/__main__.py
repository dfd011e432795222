"""``python -m evaluation.judges <name> [key=value ...]``: train or load a judge and print its report."""
from __future__ import annotations

import json
import logging
import sys
from typing import Sequence


from evaluation.judges.cache import load_or_train_judge
from evaluation.judges.common import JudgeError, JudgeTooWeak
from evaluation.judges.settings import JUDGES



# ---------------------------------------------------------------- command line
def main(argv: Sequence[str]) -> int:
    """``python -m evaluation.judges <name> [key=value ...]``: train or load a judge and print its report."""
    import yaml

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not argv or argv[0] not in JUDGES:
        print(f"usage: python -m evaluation.judges {{{','.join(JUDGES)}}} [key=value ...]", file=sys.stderr)
        return 2
    overrides = dict(arg.split("=", 1) for arg in argv[1:])
    settings = {key: yaml.safe_load(value) for key, value in overrides.items()}
    cache_dir = settings.pop("cache_dir", None)
    try:
        _, report = load_or_train_judge(argv[0], cache_dir, **settings)
    except (JudgeError, JudgeTooWeak) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
