"""The function-calling benchmark's plumbing (benchmarks/function_calls.py), without the model: every BFCL
`multiple` case registers through the JSON-schema API and compiles into the step grammar, and the checker
it scores with accepts a right call and rejects a wrong one."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]

if importlib.util.find_spec("bfcl_eval") is None:
    if in_ci():
        pytest.fail("bfcl-eval is required in CI (make setup installs it)", pytrace=False)
    pytest.skip("bfcl-eval is not installed: pip install --no-deps bfcl-eval==2026.3.23", allow_module_level=True)

sys.path.insert(0, str(ROOT / "benchmarks"))
import function_calls as bench  # noqa: E402

from agent.action import step_schema  # noqa: E402
from agent.action_format import parse_action  # noqa: E402
from agent.llm.grammar import import_xgrammar  # noqa: E402


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return bench.load_cases(bench.bfcl_root())


def test_the_set_is_there_with_its_answers(cases: list[dict]) -> None:
    assert len(cases) == 200 and all(c["ground_truth"] and len(c["function"]) >= 2 for c in cases)


def test_bfcl_types_become_json_schema() -> None:
    schema = bench.json_schema({"type": "dict", "required": ["a"], "properties": {
        "a": {"type": "float", "description": "x"}, "b": {"type": "tuple", "items": {"type": "integer"},
                                                       "optional": True},
        "c": {"type": "dict", "properties": {"d": {"type": "any"}}}}})
    assert schema == {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "number", "description": "x"}, "b": {"type": "array", "items": {"type": "integer"}},
        "c": {"type": "object", "properties": {"d": {"type": "string"}}}}}


def test_every_case_compiles_into_the_step_grammar(cases: list[dict]) -> None:
    xgr = import_xgrammar()
    for case in cases:
        grammar = xgr.Grammar.from_json_schema(json.dumps(step_schema(bench.registry_for(case), thoughts=False)))
        assert "root" in str(grammar), case["id"]


def test_the_checker_accepts_the_right_call_and_rejects_a_wrong_one(cases: list[dict]) -> None:
    from bfcl_eval.constants.enums import Language

    check = bench.ast_checker()
    case = cases[0]  # triangle_properties.get(side1=5, side2=4, side3=3)
    registry = bench.registry_for(case)
    right = parse_action(json.dumps({"tool": "triangle_properties.get",
                                     "args": {"side1": 5, "side2": 4, "side3": 3}}), registry)
    wrong = parse_action(json.dumps({"tool": "triangle_properties.get",
                                     "args": {"side1": 5, "side2": 4, "side3": 4}}), registry)
    verdicts = [check(case["function"], [{a.tool: a.args}], case["ground_truth"], Language.PYTHON, bench.CATEGORY,
                      bench.CHECKER_MODEL)["valid"] for a in (right, wrong)]
    assert verdicts == [True, False]
