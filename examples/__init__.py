"""The example documents, shipped in the wheel as `lockstep.examples` (data, no code).

A regular package rather than a namespace one: `importlib.resources.files("lockstep.examples")` is then a plain
path in an installed wheel too (for a namespace package it is a MultiplexedPath, whose str() is not a path, and
`lockstep certify` found no example recipe to train at level 4)."""
