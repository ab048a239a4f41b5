"""The float32 bound of each example recipe's first loss, by the magnitude pass and as judged now (the smaller of it
and the adjoint form, docs/spec/v1-semantics.md § Tolerances): the figures docs/conformance.md quotes.

    python docs/tools/loss_bounds.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    from lockstep.reference import error_bounds as eb
    from lockstep.reference import losses
    from lockstep.reference.model import ReferenceModel
    from lockstep.reference.tolerances import gamma, loss_magnitude, unit_roundoff
    from lockstep.runner import load_recipe, masks_for, prepare_loaded

    u = unit_roundoff("float32")
    print(f"{'recipe':18} {'loss':>8} {'magnitude pass':>15} {'judged':>10}  form")
    for recipe in sorted((ROOT / "examples").glob("*/recipe.yaml")):
        doc, model, base = load_recipe(recipe)
        prep = prepare_loaded(doc, model, base, 1)
        _, x, y = prep.data.batch(0)
        masks = masks_for(prep, 0, len(x))
        net = ReferenceModel(prep.model)
        buffers = {k: np.array(prep.initial[k]) for k in net.buffer_specs}
        out = net.forward_with_intermediates(x, prep.initial, buffers, training=True, masks=masks)[net.output_names[0]]
        loss, grad = losses.compute(prep.recipe.loss, out, y)
        b = eb.model_bounds(prep.model, prep.initial, x, training=True, masks=masks, loss=prep.recipe.loss, y=y)
        own, _ = eb.loss_terms(prep.recipe.loss, out, y, b.output.magnitude)
        by_pass = float(loss_magnitude(own, grad, b.output.magnitude))
        n = b.loss.length
        before = (gamma(n, u) + gamma(n, 2.0**-53)) * by_pass + 2 * u * abs(loss)
        judged = float(b.loss.tolerance("float32").allowed(np.asarray(loss)))
        form = "adjoint" if float(b.loss.magnitude) < by_pass else "pass"
        print(f"{recipe.parent.name:18} {loss:8.4g} {before:15.3g} {judged:10.3g}  {form}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
