"""`autogpt cache list|prune`: what the model cache holds, and removing what no current format uses."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.options import JsonFlag

cache_app = typer.Typer(no_args_is_help=True, help="List and prune the model cache ($AUTOGPT_CACHE, default "
                        "~/.cache/autogpt): converted models, engine weights, prompt KV, compiled kernels.")


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


@cache_app.command("list")
def list_cache(json_output: JsonFlag = False) -> None:
    """Every cache entry: its size, what it is, and whether anything still uses it."""
    from agent.llm.cache_index import cache_entries
    from agent.llm.loading import cache_root

    root, entries = cache_root(), cache_entries()
    prunable = sum(e.size for e in entries if e.prunable)
    if json_output:
        typer.echo(json.dumps({"root": str(root), "bytes": sum(e.size for e in entries), "prunable_bytes": prunable,
                               "entries": [e.to_json() for e in entries]}))
        return
    console = Console()
    if not entries:
        console.print(f"the cache at {escape(str(root))} is empty")
        return
    table = Table(pad_edge=False)
    for name, options in (("state", {"no_wrap": True}), ("size", {"justify": "right", "no_wrap": True}),
                          ("kind", {"no_wrap": True}), ("name", {"overflow": "fold"}), ("what", {})):
        table.add_column(name, **options)
    for e in entries:
        style = "yellow" if e.prunable else ""
        table.add_row(f"[{style}]{e.state}[/]" if style else e.state, human(e.size), e.kind, escape(e.path.name),
                      escape(e.what))
    console.print(table)
    total = sum(e.size for e in entries)
    hint = f"; {human(prunable)} can go (`autogpt cache prune`)" if prunable else "; nothing to prune"
    console.print(f"{human(total)} in {len(entries)} entries under {escape(str(root))}{hint}", highlight=False)


@cache_app.command("prune")
def prune_cache(dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would go")] = False,
                json_output: JsonFlag = False) -> None:
    """Remove the entries no current format uses: stale ones and unfinished writes. What is in use stays."""
    from agent.llm.cache_index import cache_entries, prune

    entries = cache_entries()
    gone = [e for e in entries if e.prunable] if dry_run else prune(entries)
    freed = sum(e.size for e in gone)
    if json_output:
        typer.echo(json.dumps({"dry_run": dry_run, "freed_bytes": freed, "removed": [e.to_json() for e in gone]}))
        return
    for e in gone:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {e.kind}/{e.path.name} ({human(e.size)}: {e.what})")
    typer.echo(f"{'would free' if dry_run else 'freed'} {human(freed)}" if gone else "nothing to prune")
