"""A second adapter with the reference's math, so that `compare` has two backends where no framework is installed
(`--backends reference,reference_twin:ReferenceTwin`: one adapter named twice is refused)."""

from lockstep.adapters.reference import ReferenceAdapter


class ReferenceTwin(ReferenceAdapter):
    name = "reference-twin"
