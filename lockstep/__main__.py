"""`python -m lockstep` is the same as the `lockstep` command."""

from lockstep.cli import entry

raise SystemExit(entry())
