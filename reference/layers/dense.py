"""dense: y = x W + b over the last axis; W is [in, out]."""


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    w = params["weight"]
    y = x @ w
    if "bias" in params:
        y = y + params["bias"]
    return y, (x, w)


def backward(layer, g, cache):
    x, w = cache
    x2 = x.reshape(-1, x.shape[-1])
    g2 = g.reshape(-1, g.shape[-1])
    grads = {"weight": x2.T @ g2}
    if layer.use_bias:
        grads["bias"] = g2.sum(axis=0)
    return [g @ w.T], grads

