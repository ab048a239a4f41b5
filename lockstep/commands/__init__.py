"""One module per `lockstep` sub-command; each has `add_arguments(parser)` and `run(args) -> int`."""
