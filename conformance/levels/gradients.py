"""Level 2, gradients: the training-mode loss and every parameter gradient of the first batch (dropout
with the standard's keep-masks), and the buffers that training forward moves (batch-norm statistics)."""

from __future__ import annotations

import math

from lockstep.adapters.checked import gradients_answer, parameters_answer
from lockstep.conformance.checks import Check, check, entry
from lockstep.conformance.levels._pair import Pair, handed
from lockstep.conformance.tolerance import batch_rules

NAME = "gradients"


def checks(pair: Pair) -> list[Check]:
    pair.start()
    x, y, masks = pair.batch(0)
    loss_r, grads_r = pair.reference.loss_and_gradients(x, y, masks=masks)
    loss_a, grads_a = gradients_answer(pair.actual.loss_and_gradients(handed(x), handed(y), masks=handed(masks)))
    buffers = sorted(pair.prep.graph.buffers())
    after_r = pair.reference.get_parameters()
    rules = batch_rules(pair.model, pair.prep.initial, x, y, masks, pair.prep.recipe.loss, loss_r, grads_r,
                        pair.dtype, {k: after_r[k] for k in buffers})
    out = [check("loss", loss_a, loss_r, rules.loss)]
    out += [check(f"gradient {k}", entry(grads_a, k, "loss_and_gradients()"), g, rules.gradients[k])
            for k, g in grads_r.items()]
    out += [Check(f"gradient {k}", math.inf, 0.0, math.inf, "not a parameter of the model")
            for k in grads_a if k not in grads_r]  # a name outside the standard's canonical ones
    if buffers:
        after_a = parameters_answer(pair.actual.get_parameters())
        out += [check(f"buffer {k}", entry(after_a, k, "get_parameters()"), after_r[k], rules.buffers[k])
                for k in buffers]
    return out

