"""add: the elementwise sum of its inputs."""


def forward(layer, inputs, params, ctx):
    out = inputs[0]
    for x in inputs[1:]:
        out = out + x
    return out, len(inputs)


def backward(layer, g, count):
    return [g] * count, {}
