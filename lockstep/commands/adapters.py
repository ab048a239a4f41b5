"""`lockstep adapters`: which backends are installed, their versions and devices, and why others are not.

Exit 0, or 1 when a third-party adapter (an entry point of the group `lockstep.adapters`) is installed but
cannot be loaded: a vendor's CI must not read "installed" from a listing that hides a broken package. Each
such adapter is named on stderr with its entry point and the distribution that installed it. A built-in
adapter whose framework is simply not installed is listed as unavailable and is no error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import BUILTIN, GROUP, entry_points
    from lockstep.api import list_adapters

    rows = list_adapters()
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        width = max(len(r.name) for r in rows) + 2
        for r in rows:
            if r.available:
                versions = ", ".join(f"{k} {v}" for k, v in r.versions.items())
                print(f"{r.name:<{width}}{', '.join(r.devices):<18}{versions}")
            else:
                print(f"{r.name:<{width}}unavailable: {r.reason}")
    eps = entry_points()
    broken = [r for r in rows if not r.available and r.name in eps and r.name not in BUILTIN]
    for r in broken:
        ep = eps[r.name]
        dist = getattr(ep, "dist", None)
        by = f", installed by {dist.name} {dist.version}" if dist is not None else ""
        cause = r.reason.split(" failed to load: ", 1)[-1]
        print(f"lockstep adapters: the adapter `{r.name}` cannot be used: entry point `{ep.name} = {ep.value}` "
              f"(group {GROUP}{by}): {cause}", file=sys.stderr)
    return 1 if broken else 0
