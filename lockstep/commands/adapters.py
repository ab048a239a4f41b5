"""`lockstep adapters`: which backends are installed, their versions and devices, and why others are not."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import available

    rows = available()
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    width = max(len(r.name) for r in rows) + 2
    for r in rows:
        if r.available:
            versions = ", ".join(f"{k} {v}" for k, v in r.versions.items())
            print(f"{r.name:<{width}}{', '.join(r.devices):<18}{versions}")
        else:
            print(f"{r.name:<{width}}unavailable: {r.reason}")
    return 0
