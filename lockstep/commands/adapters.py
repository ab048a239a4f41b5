"""`lockstep adapters`: which backends are installed, their versions and devices, and why others are not."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from lockstep.adapters.registry import AdapterNotFound, get, names

    rows = []
    for name in names():
        try:
            adapter = get(name)
            rows.append({"name": name, "available": True, "versions": adapter.versions(),
                         "devices": adapter.devices()})
        except AdapterNotFound as exc:
            rows.append({"name": name, "available": False, "reason": str(exc)})
        except Exception as exc:  # a broken third-party adapter must not hide the others
            rows.append({"name": name, "available": False, "reason": f"failed to load: {exc}"})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if r["available"]:
            versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
            print(f"{r['name']:<12} {', '.join(r['devices']):<16} {versions}")
        else:
            print(f"{r['name']:<12} unavailable: {r['reason']}")
    return 0
