"""matplotlib for files in scripts and inline in notebooks: the backend is chosen once, never switched under a user."""
from __future__ import annotations

import sys


def pyplot():
    """``matplotlib.pyplot``; picks the file-only Agg backend only if nothing (a notebook, the user) has loaded pyplot yet."""
    if "matplotlib.pyplot" not in sys.modules and "IPython" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
