"""Idiomatic hand-written PyTorch loops for the example recipes: the model written with nn modules,
the same data batches and initial weights, the same optimizer, schedule, clipping, evaluation cadence."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _load(model: nn.Module, initial: dict[str, np.ndarray], mapping: dict[str, tuple[str, bool]]) -> None:
    with torch.no_grad():
        for canon, (attr, transpose) in mapping.items():
            value = torch.from_numpy(initial[canon])
            getattr_path(model, attr).copy_(value.T if transpose else value)


def getattr_path(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def digits_mlp(dtype):
    m = nn.Sequential(nn.Linear(64, 32, dtype=dtype), nn.ReLU(), nn.Linear(32, 10, dtype=dtype))
    mapping = {"hidden.weight": ("0.weight", True), "hidden.bias": ("0.bias", False),
               "logits.weight": ("2.weight", True), "logits.bias": ("2.bias", False)}
    return m, mapping


def small_cnn(dtype):
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, dtype=dtype), nn.BatchNorm2d(8, dtype=dtype), nn.ReLU(),
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 16, 3, stride=2, dtype=dtype), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10, dtype=dtype))
    mapping = {"conv1.weight": ("0.weight", False), "conv1.bias": ("0.bias", False),
               "bn1.weight": ("1.weight", False), "bn1.bias": ("1.bias", False),
               "bn1.running_mean": ("1.running_mean", False), "bn1.running_var": ("1.running_var", False),
               "conv2.weight": ("4.weight", False), "conv2.bias": ("4.bias", False),
               "logits.weight": ("8.weight", True), "logits.bias": ("8.bias", False)}
    return m, mapping


def huber_regression(dtype):
    m = nn.Sequential(nn.Linear(8, 16, dtype=dtype), nn.SiLU(), nn.Linear(16, 2, dtype=dtype))
    mapping = {"hidden.weight": ("0.weight", True), "hidden.bias": ("0.bias", False),
               "out.weight": ("2.weight", True), "out.bias": ("2.bias", False)}
    return m, mapping


MODELS = {"digits-mlp": digits_mlp, "small-cnn": small_cnn, "huber-regression": huber_regression}


def train(prep, name: str) -> float:
    r = prep.recipe
    dtype = torch.float32 if r.dtype == "float32" else torch.float64
    model, mapping = MODELS[name](dtype)
    _load(model, prep.initial, mapping)
    o = r.optimizer
    if o.type == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon,
                               weight_decay=r.regularization.l2, foreach=False)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=o.learning_rate, momentum=o.momentum, nesterov=o.nesterov,
                              weight_decay=r.regularization.l2, foreach=False)
    s = r.schedule

    def lr_at(t: int) -> float:
        base = o.learning_rate
        if s.warmup is not None:
            if t < s.warmup.steps:
                return base * (s.warmup.start_factor + (1 - s.warmup.start_factor) * t / s.warmup.steps)
            t -= s.warmup.steps
        if s.type == "step":
            return base * s.gamma ** (t // s.step_size)
        if s.type == "cosine":
            return s.min_learning_rate + (base - s.min_learning_rate) * (
                1 + math.cos(math.pi * min(t, s.decay_steps) / s.decay_steps)) / 2
        return base

    if r.loss.type == "huber":
        def loss_fn(y, t):
            return F.huber_loss(y, t, delta=r.loss.delta)
    else:
        def loss_fn(y, t):
            return F.cross_entropy(y, t, label_smoothing=r.loss.label_smoothing)
    xe, ye = torch.from_numpy(prep.data.x_eval), torch.from_numpy(prep.data.y_eval)
    every = r.evaluation.every
    t0 = time.perf_counter()
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        if r.gradient_clipping is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), r.gradient_clipping.max_norm)
        opt.step()
        loss.item()
        if (every and (step + 1) % every == 0) or step + 1 == prep.total_steps:
            model.eval()
            with torch.no_grad():
                loss_fn(model(xe), ye).item()
    return time.perf_counter() - t0
