"""The long randomised fuzz of train.py (docs/tests.md): random combinations of 1-3 knobs from
tests/test_cli.py's BAD_VALUES, each a 1-step run at 32 px; unlike hypothesis it records every
failure (a traceback, a "Resume with", not one line) instead of stopping at the first.

    nice python bench/fuzz_cli.py CASES SEED SECONDS OUT.jsonl
"""
import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

root = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, root)
os.chdir(root)
import train  # noqa: E402
from nst.runs.cli import run  # noqa: E402,F401  (Lightning's log handlers bind to stderr at import)
from tests.conftest import tiny_args  # noqa: E402
from tests.test_cli import BAD_VALUES  # noqa: E402
n, seed, budget = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(seed)
keys = sorted(BAD_VALUES)
start, done = time.time(), 0
out = open(sys.argv[4], "a")
while done < n and time.time() - start < budget:
    chosen = rng.sample(keys, rng.randint(1, 3))
    settings = [(k, rng.choice(BAD_VALUES[k])) for k in chosen]
    args = [a for k, v in settings for a in (f"--{k}", v)]
    tmp = Path(tempfile.mkdtemp())
    err = io.StringIO()
    ok, why = True, ""
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = train.main(tiny_args(tmp, *args, steps=1))
        text = err.getvalue()
        lines = [l for l in text.splitlines() if l.startswith("error: ")]
        if "Traceback" in text or "Resume with" in text:
            ok, why = False, text[-600:]
        elif code == 2 and not (len(lines) == 1 and "Fix:" in lines[0]):
            ok, why = False, "lines: " + repr(lines)
        elif code not in (0, 2):
            ok, why = False, f"code {code}"
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt): raise
        ok, why = False, "".join(traceback.format_exception_only(type(e), e))[-600:]
    done += 1
    if not ok:
        out.write(json.dumps({"args": args, "why": why}) + "\n"); out.flush()
    if done % 500 == 0:  # a run stopped early keeps its count
        print(json.dumps({"cases so far": done, "seconds": round(time.time() - start)}), file=out, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps({"cases": done, "seconds": round(time.time() - start)}), file=out, flush=True)
