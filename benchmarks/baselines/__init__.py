"""Hand-written training loops, one module per framework, each with
`train(prep, recipe_name) -> seconds` doing the same work as `lockstep run` on that recipe."""
