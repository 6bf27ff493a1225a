"""Every word the agent says to a model lives here, as Jinja templates rendered with StrictUndefined."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parent


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True, autoescape=False,
    )


def render(name: str, **values: Any) -> str:
    """Render `prompts/<name>.j2`; a missing value is an error, never an empty string."""
    return _environment().get_template(f"{name}.j2").render(**values).strip()


@lru_cache(maxsize=1)
def examples() -> list[dict[str, Any]]:
    """Worked example runs shown to the model before its goal (prompts/examples.json)."""
    import json

    return json.loads((TEMPLATE_DIR / "examples.json").read_text(encoding="utf-8"))
