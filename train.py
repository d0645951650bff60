"""Run neural style transfer: ``python train.py --config starry.yaml``.

Also ``python train.py --content photo.jpg --style painting.jpg`` without a config, any dotted
override (``--trainer.max_steps 50``, ``--data.size 256``), ``--print_config``, and
``--ckpt_path last`` to resume the newest run of the same name. The same command is installed
as ``nst`` by ``pip install .`` (``nst.runs.main``).
"""

from __future__ import annotations

import sys

from nst.runs.main import main, resolve_config, rewrite_argv

__all__ = ["main", "resolve_config", "rewrite_argv"]

if __name__ == "__main__":
    sys.exit(main())
