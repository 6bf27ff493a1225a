"""Source-level help for run_python: show the value of a trailing expression, as a REPL or notebook does,
and refuse code that does not compile before it costs a sandbox call.

Small models often write `2 ** 20` or `len(text.split())` and forget print(); the run then says nothing.
The code is only parsed or compiled here (never run), and only a top-level trailing expression is touched.
"""

from __future__ import annotations

import ast
import traceback
import warnings

VALUE_NAME = "_autogpt_value"


def echo_last_expression(code: str) -> str:
    """`code` with its final top-level expression statement printed; unchanged when there is none."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code  # the run reports the error with the model's own line numbers
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return code
    last = tree.body[-1]
    if _is_call_to(last.value, "print") or last.end_lineno is None or last.end_col_offset is None:
        return code
    source = code.encode("utf-8")
    start = _byte_offset(source, last.lineno, last.col_offset)
    end = _byte_offset(source, last.end_lineno, last.end_col_offset)
    expression = source[start:end].decode("utf-8")
    echo = (f"{VALUE_NAME} = (\n{expression}\n)\n"
            f"if {VALUE_NAME} is not None:\n"
            f"    print({VALUE_NAME} if isinstance({VALUE_NAME}, str) else repr({VALUE_NAME}))")
    return source[:start].decode("utf-8") + echo + source[end:].decode("utf-8")


def compile_problem(code: str) -> str | None:
    """Python's own complaint about code that does not compile, as the sandbox would print it; else None."""
    try:
        with warnings.catch_warnings():  # invalid escapes and the like warn on stderr: not ours to print
            warnings.simplefilter("ignore")
            compile(code, "<string>", "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    except ValueError as exc:  # a NUL byte in the source
        detail = f"ValueError: {exc}"
    else:
        return None
    return f"[the code does not compile, so it was not run]\n{detail}"


def silence_hint(code: str) -> str:
    """Why code that ran without error printed nothing, and the line that would show something."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return "use print() to see values"
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    top_level = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    called = {n.func.id for stmt in top_level for n in ast.walk(stmt)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    never_called = [name for name in functions if name not in called]
    if never_called:
        name = never_called[-1]
        return (f"{name}() is defined but never called, so it did not run; add a line that calls it and "
                f"prints the result: print({name}(...)) with real arguments")
    if top_level and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in top_level):
        return "the code only imports; compute the value and print() it"
    assigned = [t.id for n in top_level if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    if assigned:
        return f"nothing was printed; add print({assigned[-1]}) to see {assigned[-1]}"
    return "use print() to see values"


def _is_call_to(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _byte_offset(source: bytes, line: int, column: int) -> int:
    """ast positions are (1-based line, UTF-8 byte column)."""
    offset = 0
    for _ in range(line - 1):
        offset = source.index(b"\n", offset) + 1
    return offset + column
