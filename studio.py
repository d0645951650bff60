"""The studio: ``python studio.py`` (``--port``, ``--host``, ``--share``) serves a page on
http://127.0.0.1:7860 to make a picture in the browser and watch it form (``nst.studio``).
The same as ``nst studio``."""

from __future__ import annotations

import sys

from nst.studio.server import main

if __name__ == "__main__":
    sys.exit(main())
