"""Level 2, gradients: the training-mode loss and every parameter gradient of the first batch (dropout
with the standard's keep-masks), and the buffers that training forward moves (batch-norm statistics)."""

from __future__ import annotations

from lockstep.conformance.checks import Check, check
from lockstep.conformance.levels._pair import Pair
from lockstep.conformance.tolerance import batch_rules, buffer_rule

NAME = "gradients"


def checks(pair: Pair) -> list[Check]:
    pair.start()
    x, y, masks = pair.batch(0)
    loss_r, grads_r = pair.reference.loss_and_gradients(x, y, masks=masks)
    loss_a, grads_a = pair.actual.loss_and_gradients(x, y, masks=masks)
    rules = batch_rules(pair.model, pair.prep.initial, x, y, masks, pair.prep.recipe.loss, loss_r, grads_r,
                        pair.dtype)
    out = [check("loss", loss_a, loss_r, rules.loss)]
    out += [check(f"gradient {k}", grads_a.get(k, _missing()), g, rules.gradients[k]) for k, g in grads_r.items()]
    buffers = set(pair.prep.graph.buffers())
    if buffers:
        after_r, after_a = pair.reference.get_parameters(), pair.actual.get_parameters()
        for k in sorted(buffers):
            rule = buffer_rule(k, pair.prep, x, after_r, rules, pair.dtype)
            out.append(check(f"buffer {k}", after_a.get(k, _missing()), after_r[k], rule))
    return out


def _missing():
    import numpy as np

    return np.array(np.nan)
