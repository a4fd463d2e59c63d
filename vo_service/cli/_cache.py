"""``vo-service cache``: statistics, eviction and integrity checks of the product cache."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import click

from vo_service.cli._main import load_settings, main

if TYPE_CHECKING:
    from processing.pipeline import ProductCache

__all__ = ["cache"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """``"500M"``, ``"20GiB"``, ``"1.5g"`` or a plain number of bytes → bytes (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a size such as 500M, 20G or 1048576")
    prefix = (match.group(2) or "").lower()[:1]
    if prefix == "b":
        prefix = ""
    return int(float(match.group(1)) * _FACTORS[prefix])


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1024
    return f"{value:.1f} TiB"


def _open_cache() -> ProductCache:
    from processing.pipeline import CacheStore, ProductCache
    from vo_service._context import ServiceContext

    settings = load_settings()
    context = ServiceContext.build(settings)
    return ProductCache(
        CacheStore(settings.resolved_cache_path),
        context.engine,
        budget_bytes=settings.cache_budget_bytes,
    )


@main.group()
def cache() -> None:
    """Inspect and trim the intermediate-product cache."""


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(as_json: bool) -> None:
    """Entries, sizes by unit, pins, leases and hits."""
    result = _open_cache().stats()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "entries": result.entries,
                    "total_bytes": result.total_bytes,
                    "budget_bytes": result.budget_bytes,
                    "pinned": result.pinned,
                    "leased": result.leased,
                    "total_hits": result.total_hits,
                    "oldest_use": result.oldest_use.isoformat() if result.oldest_use else None,
                    "by_unit": {
                        unit: {"entries": count, "bytes": size}
                        for unit, (count, size) in sorted(result.by_unit.items())
                    },
                },
                indent=1,
            )
        )
        return
    budget = "none" if result.budget_bytes is None else _human(result.budget_bytes)
    click.echo(f"entries: {result.entries}")
    click.echo(f"size:    {_human(result.total_bytes)} (budget {budget})")
    click.echo(f"pinned:  {result.pinned}   leased: {result.leased}   hits: {result.total_hits}")
    if result.oldest_use is not None:
        click.echo(f"least recently used: {result.oldest_use.isoformat(timespec='seconds')}")
    for unit, (count, size) in sorted(result.by_unit.items()):
        click.echo(f"  {unit:<40} {count:>8} {_human(size):>12}")


@cache.command()
@click.option("--budget", default=None, help="Target size (e.g. 10G); default: the setting.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--sweep-age",
    type=float,
    default=3600.0,
    show_default=True,
    help="Also delete unpublished leftovers of crashed writers older than this (s).",
)
def evict(budget: str | None, dry_run: bool, sweep_age: float) -> None:
    """Remove least recently used entries until the cache fits its budget.

    Pinned entries and entries leased by running jobs are kept.
    """
    product_cache = _open_cache()
    target = parse_size(budget) if budget is not None else product_cache.budget_bytes
    report = product_cache.evict(target, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {len(report.removed)} entries, {_human(report.freed_bytes)}; "
        f"{_human(report.remaining_bytes)} remain"
    )
    if dry_run:
        for key in report.removed:
            click.echo(f"  {key}")
    else:
        swept = product_cache.store.sweep(older_than=sweep_age)
        if swept:
            click.echo(f"swept {swept} leftovers of interrupted writes")


@cache.command()
@click.option("--size-only", is_flag=True, help="Check sizes only, not SHA-256 checksums.")
def verify(size_only: bool) -> None:
    """Check every entry against its manifest and the index; exit 1 on problems."""
    problems = _open_cache().check_consistency(level="size" if size_only else "checksum")
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("cache consistent")
