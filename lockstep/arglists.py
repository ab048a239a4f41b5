"""Command-line list options that add up when repeated, shared by the `lockstep` commands and the pytest plugin's
`--lockstep-*` options (a leaf: it imports nothing of Lockstep's, so conformance/ may use it)."""

from __future__ import annotations

import argparse
from typing import Any


class CommaList(argparse.Action):
    """A comma-separated list option that adds up when repeated: `--construct dense --construct sgd` is
    `--construct dense,sgd` (argparse's own last-wins dropped `dense` without a word); the first use replaces
    the default."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given: set[str] = namespace.__dict__.setdefault("_lists_given", set())
        before = getattr(namespace, self.dest)
        setattr(namespace, self.dest, f"{before},{values}" if self.dest in given else values)
        given.add(self.dest)
