"""The long randomised fuzz of the Python API (docs/studio-reliability.md): tests/test_api_fuzz.py's
properties (stylize, save, the studio's handlers) with new examples from SEED; unlike the test it
records every failure (the case and the exception) instead of stopping at the first.

    OMP_NUM_THREADS=1 nice python bench/fuzz_api.py CASES SEED [SECONDS] [OUT.jsonl]
"""
import json
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

root = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, root)
warnings.simplefilter("ignore")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests import test_api_fuzz as fuzz  # noqa: E402

n, seed_ = int(sys.argv[1]), int(sys.argv[2])
budget = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
out = open(sys.argv[4] if len(sys.argv) > 4 else "outputs/fuzz_api.jsonl", "a")
calls = st.one_of(
    st.tuples(st.just("stylize"), fuzz.image_inputs, fuzz.style_inputs, fuzz.options, st.booleans()),
    st.tuples(st.just("save"), fuzz.image_inputs, st.sampled_from(fuzz.SAVE_TARGETS)),
    st.tuples(st.just("handlers"), fuzz.payloads, st.lists(fuzz.payloads, max_size=3), fuzz.handler_values))
checks = {"stylize": fuzz.check_stylize, "save": fuzz.check_save, "handlers": fuzz.check_handlers}
start, outcomes, failures = time.time(), Counter(), 0


@seed(seed_)
@settings(max_examples=n, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck))
@given(calls)
def case(call):
    global failures
    if time.time() - start > budget:
        return
    try:
        outcomes[f"{call[0]}: {checks[call[0]](*call[1:])}"] += 1
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001  (record it and go on)
        failures += 1
        why = "".join(traceback.format_exception_only(type(e), e))[-800:]
        out.write(json.dumps({"case": call, "why": why}, default=repr) + "\n")
        out.flush()
    done = sum(outcomes.values()) + failures
    if done % 100 == 0:
        print(json.dumps({"cases so far": done, "failures": failures, "seconds": round(time.time() - start)}),
              file=out, flush=True)


case()
print(json.dumps({"cases": sum(outcomes.values()) + failures, "failures": failures,
                  "seconds": round(time.time() - start), "outcomes": dict(outcomes)}), file=out, flush=True)
