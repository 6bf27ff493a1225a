#!/usr/bin/env bash
# The GPU path, checked on a CUDA machine in one go:
#   1. the real-model tests, with the model on cuda (device auto picks it), and training on cuda;
#   2. the speed benchmark on cuda (benchmarks/llm_speed.py, bfloat16);
#   3. a short tuning run on cuda (`autogpt tune --device cuda`), then the adapter it wrote loaded on cuda.
# Prints ONE JSON line on stdout (details go to stderr and to $GPU_CHECK_OUT, default a temporary folder).
# Exit status: 0 all passed, 1 something failed (the JSON says what), 2 no Python environment, 3 no CUDA.
#
#   bash benchmarks/gpu_check.sh                       # with .venv/bin/python (make setup)
#   PYTHON=python3 TUNE_DATA=train.jsonl bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "gpu_check: no Python at $PY (run make setup, or set PYTHON)" >&2
  exit 2
fi
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo '{"cuda": false, "reason": "torch.cuda.is_available() is False on this machine; nothing was run"}'
  echo "gpu_check: no CUDA device here; run this on a machine with one" >&2
  exit 3
fi
OUT=${GPU_CHECK_OUT:-$(mktemp -d -t gpu-check-XXXXXX)}
mkdir -p "$OUT"
started=$(date +%s)
export PYTHONUNBUFFERED=1

# 1. real-model tests on cuda, and tuning on cuda
"$PY" -m pytest -q -p no:cacheprovider -m real_model --junitxml="$OUT/real_model.xml" tests >"$OUT/real_model.log" 2>&1
tests_rc=$?
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$OUT/tune_cuda.xml" \
  "tests/test_tune_model.py::test_tuning_on_cuda_takes_a_step_where_there_is_one" >"$OUT/tune_cuda.log" 2>&1
tune_test_rc=$?

# 2. the speed benchmark on cuda: its last line is JSON
"$PY" benchmarks/llm_speed.py --dtype bfloat16 --skip-cold --reps 3 >"$OUT/speed.log" 2>&1
speed_rc=$?

# 3. a short tuning run on cuda, then the adapter on cuda
data=${TUNE_DATA:-$OUT/fixture.jsonl}
if [ -z "${TUNE_DATA:-}" ]; then
  "$PY" -c "import sys; sys.path.insert(0, 'tests'); import tune_fixture as f; \
f.write_jsonl(__import__('pathlib').Path('$data'), f.conversations(10))" 2>>"$OUT/tune.log"
fi
"$PY" -m agent.cli tune --data "$data" --device cuda --epochs 2 --batch-size 8 --out "$OUT/adapter" --json \
  >"$OUT/tune.json" 2>>"$OUT/tune.log"
tune_rc=$?
"$PY" - "$OUT/adapter" >"$OUT/tuned_generate.json" 2>>"$OUT/tune.log" <<'EOF'
import json, sys, time
from pathlib import Path
from agent.llm.base import ChatMessage
from agent.llm.transformers_backend import TransformersChatModel
started = time.monotonic()
model = TransformersChatModel("base", device="cuda", adapter=Path(sys.argv[1]))
g = model.generate([ChatMessage("user", "Multiply 12 by 7.")])
print(json.dumps({"name": model.name, "device": model.device, "load_s": round(model.load_seconds, 2),
                  "tokens_out": g.tokens_out, "seconds": round(g.seconds, 3), "text": g.text[:200]}))
EOF
generate_rc=$?

"$PY" - "$OUT" "$tests_rc" "$tune_test_rc" "$speed_rc" "$tune_rc" "$generate_rc" "$started" <<'EOF'
import json, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path
import torch
out = Path(sys.argv[1])
tests_rc, tune_test_rc, speed_rc, tune_rc, generate_rc = map(int, sys.argv[2:7])

def junit(name):
    path = out / name
    if not path.is_file():
        return {"error": f"no {name}"}
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [c.get("classname", "") + "::" + c.get("name", "") for c in suite.iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None]
    return counts | {"failed": failed}

def last_json(name):
    path = out / name
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")] if path.is_file() else []
    try:
        return json.loads(lines[-1]) if lines else {"error": f"no JSON in {name}"}
    except ValueError as exc:
        return {"error": f"{name}: {exc}"}

report = {"cuda": True, "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
          "real_model_tests": junit("real_model.xml") | {"exit": tests_rc},
          "tune_cuda_test": junit("tune_cuda.xml") | {"exit": tune_test_rc},
          "speed": last_json("speed.log") | {"exit": speed_rc},
          "tune": last_json("tune.json") | {"exit": tune_rc},
          "tuned_generate": last_json("tuned_generate.json") | {"exit": generate_rc},
          "seconds": round(time.time() - int(sys.argv[7])), "logs": str(out)}
report["ok"] = all(rc == 0 for rc in (tests_rc, tune_test_rc, speed_rc, tune_rc, generate_rc))
print(json.dumps(report))
sys.exit(0 if report["ok"] else 1)
EOF
