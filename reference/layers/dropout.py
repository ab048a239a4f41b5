"""dropout: identity in eval; in training y = x · mask / (1 - rate) with the standard's keep-mask."""


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    if not ctx.training or layer.rate == 0.0:
        return x, None
    if ctx.dropout_mask is None:
        raise ValueError(f"dropout `{layer.name}` in training needs the standard's keep-mask")
    scale = ctx.dropout_mask / (1.0 - layer.rate)
    return x * scale, scale


def backward(layer, g, scale):
    return [g if scale is None else g * scale], {}
