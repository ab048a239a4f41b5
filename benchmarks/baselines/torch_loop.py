"""Idiomatic hand-written PyTorch training loops for the example recipes.

Each model is written by hand with nn modules, as a practitioner would; the loop is the textbook one:
`zero_grad`, forward, loss, `backward`, clip, `step`, `scheduler.step()`, `loss.item()` for the log, an
eval pass and a `torch.save` checkpoint at the recipe's cadence. Same data batches, initial weights,
optimizer, schedule, clipping, L2 and step count as `lockstep run`; dropout uses nn.Dropout (torch's own
RNG: the same work, other masks). See baselines/__init__.py for the interface.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from lockstep.runner import Prepared

Mapping = dict[str, tuple[str, str]]  # canonical name -> (attribute path, "T" transposed / "" as is / "qN" row block)


# ------------------------------------------------------------------------------------ the models
def digits_mlp(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    m = nn.Sequential(nn.Linear(64, 32, dtype=dtype), nn.ReLU(), nn.Linear(32, 10, dtype=dtype))
    return m, {"hidden.weight": ("0.weight", "T"), "hidden.bias": ("0.bias", ""),
               "logits.weight": ("2.weight", "T"), "logits.bias": ("2.bias", "")}


def small_cnn(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, dtype=dtype), nn.BatchNorm2d(8, dtype=dtype), nn.ReLU(),
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 16, 3, stride=2, dtype=dtype), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10, dtype=dtype))
    return m, {"conv1.weight": ("0.weight", ""), "conv1.bias": ("0.bias", ""), "bn1.weight": ("1.weight", ""),
               "bn1.bias": ("1.bias", ""), "bn1.running_mean": ("1.running_mean", ""),
               "bn1.running_var": ("1.running_var", ""), "conv2.weight": ("4.weight", ""),
               "conv2.bias": ("4.bias", ""), "logits.weight": ("8.weight", "T"), "logits.bias": ("8.bias", "")}


def huber_regression(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    m = nn.Sequential(nn.Linear(8, 16, dtype=dtype), nn.SiLU(), nn.Linear(16, 2, dtype=dtype))
    return m, {"hidden.weight": ("0.weight", "T"), "hidden.bias": ("0.bias", ""),
               "out.weight": ("2.weight", "T"), "out.bias": ("2.bias", "")}


def csv_binary(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    m = nn.Sequential(nn.Linear(2, 16, dtype=dtype), nn.Tanh(), nn.Linear(16, 16, dtype=dtype), nn.LeakyReLU(0.1),
                      nn.Linear(16, 1, dtype=dtype))
    return m, {"hidden1.weight": ("0.weight", "T"), "hidden1.bias": ("0.bias", ""),
               "hidden2.weight": ("2.weight", "T"), "hidden2.bias": ("2.bias", ""),
               "logit.weight": ("4.weight", "T"), "logit.bias": ("4.bias", "")}


def inline_model(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    m = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, dtype=dtype), nn.ELU(), nn.AvgPool2d(2), nn.Flatten(),
                      nn.Linear(54, 3, dtype=dtype), nn.LogSoftmax(dim=-1))
    return m, {"conv.weight": ("0.weight", ""), "conv.bias": ("0.bias", ""),
               "logits.weight": ("4.weight", "T"), "logits.bias": ("4.bias", "")}


class LSTMClassifier(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, 12, batch_first=True, dtype=dtype)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)  # the recipe's LSTM has one bias
        self.head = nn.Linear(12, 2, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def lstm_sequences(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    return LSTMClassifier(dtype), {"lstm.weight_ih": ("lstm.weight_ih_l0", "T"),
                                   "lstm.weight_hh": ("lstm.weight_hh_l0", "T"), "lstm.bias": ("lstm.bias_ih_l0", ""),
                                   "logits.weight": ("head.weight", "T"), "logits.bias": ("head.bias", "")}


class GRUClassifier(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8, dtype=dtype)
        self.gru = nn.GRU(8, 12, batch_first=True, dtype=dtype)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(12, 2, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(x))
        return self.head(self.drop(out[:, -1]))


def embedding_gru(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    return GRUClassifier(dtype), {"embed.weight": ("embed.weight", ""), "gru.weight_ih": ("gru.weight_ih_l0", "T"),
                                  "gru.weight_hh": ("gru.weight_hh_l0", "T"), "gru.bias_ih": ("gru.bias_ih_l0", ""),
                                  "gru.bias_hh": ("gru.bias_hh_l0", ""), "logits.weight": ("head.weight", "T"),
                                  "logits.bias": ("head.bias", "")}


class Residual(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.proj = nn.Linear(12, 16, dtype=dtype)
        self.norm = nn.LayerNorm(16, dtype=dtype)
        self.inner = nn.Linear(16, 16, dtype=dtype)
        self.act = nn.GELU(approximate="tanh")
        self.logits = nn.Linear(28, 4, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.proj(x)
        r = p + self.act(self.inner(self.norm(p)))
        return self.logits(torch.cat([r, x], dim=-1))


def residual_graph(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    return Residual(dtype), {f"{n}.{k}": (f"{n}.{k}", "T" if n != "norm" and k == "weight" else "")
                             for n in ("proj", "norm", "inner", "logits") for k in ("weight", "bias")}


class TinyAttention(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 8, dtype=dtype)
        self.attention = nn.MultiheadAttention(8, 2, bias=False, batch_first=True, dtype=dtype)
        self.register_buffer("mask", torch.triu(torch.ones(12, 12, dtype=torch.bool), 1))
        self.logits = nn.Linear(96, 3, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        a, _ = self.attention(h, h, h, need_weights=False, attn_mask=self.mask)
        return self.logits(a.flatten(1))


def tiny_attention(dtype: torch.dtype) -> tuple[nn.Module, Mapping]:
    return TinyAttention(dtype), {
        "embed.weight": ("embed.weight", "T"), "embed.bias": ("embed.bias", ""),
        **{f"attention.{p}_weight": ("attention.in_proj_weight", f"q{i}")
           for i, p in enumerate(("query", "key", "value"))},
        "attention.output_weight": ("attention.out_proj.weight", "T"),
        "logits.weight": ("logits.weight", "T"), "logits.bias": ("logits.bias", "")}


MODELS: dict[str, Callable[[torch.dtype], tuple[nn.Module, Mapping]]] = {
    "digits-mlp": digits_mlp, "small-cnn": small_cnn, "huber-regression": huber_regression,
    "csv-binary": csv_binary, "inline-model": inline_model, "lstm-sequences": lstm_sequences,
    "embedding-gru": embedding_gru, "residual-graph": residual_graph, "tiny-attention": tiny_attention,
}


# ------------------------------------------------------------------------------------------ helpers
def _tensor(model: nn.Module, path: str) -> torch.Tensor:
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def _view(t: torch.Tensor, how: str) -> torch.Tensor:
    if how.startswith("q"):
        n = t.shape[1]
        i = int(how[1:])
        return t[i * n:(i + 1) * n].T
    return t.T if how == "T" else t


def _load(model: nn.Module, mapping: Mapping, initial: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        for canon, (path, how) in mapping.items():
            _view(_tensor(model, path), how).copy_(torch.from_numpy(initial[canon]))


def supports(prep: Prepared) -> bool:
    name = prep.recipe.metadata.name
    if name not in MODELS:
        return False
    model, mapping = MODELS[name](torch.float64)
    if set(mapping) != set(prep.initial):
        return False
    return all(tuple(_view(_tensor(model, p), h).shape) == prep.initial[k].shape for k, (p, h) in mapping.items())


def configure(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def _optimizer(r, params) -> torch.optim.Optimizer:
    o, l2 = r.optimizer, r.regularization.l2
    if o.type == "sgd":
        return torch.optim.SGD(params, lr=o.learning_rate, momentum=o.momentum, dampening=o.dampening,
                               nesterov=o.nesterov, weight_decay=l2)
    if o.type == "adam":
        return torch.optim.Adam(params, lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon,
                                amsgrad=o.amsgrad, weight_decay=l2)
    if o.type == "adamw":
        return torch.optim.AdamW(params, lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon,
                                 amsgrad=o.amsgrad, weight_decay=o.weight_decay)
    if o.type == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.learning_rate, alpha=o.rho, eps=o.epsilon, momentum=o.momentum,
                                   centered=o.centered, weight_decay=l2)
    return torch.optim.Adagrad(params, lr=o.learning_rate, eps=o.epsilon, weight_decay=l2,
                               initial_accumulator_value=o.initial_accumulator_value)


def _scheduler(r, opt):
    s, sched = r.schedule, torch.optim.lr_scheduler
    main = {"step": lambda: sched.StepLR(opt, s.step_size, s.gamma),
            "exponential": lambda: sched.ExponentialLR(opt, s.gamma),
            "cosine": lambda: sched.CosineAnnealingLR(opt, s.decay_steps, s.min_learning_rate),
            "constant": lambda: None}[s.type]()
    if s.warmup is None:
        return main
    w = s.warmup
    warm = (sched.LinearLR(opt, w.start_factor, 1.0, w.steps) if w.start_factor > 0
            else sched.LambdaLR(opt, lambda t: min(1.0, t / w.steps)))
    return warm if main is None else sched.SequentialLR(opt, [warm, main], [w.steps])


def _loss(r) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    loss = r.loss
    if loss.type == "huber":
        return lambda y, t: F.huber_loss(y, t, delta=loss.delta)
    if loss.type == "nll":
        return F.nll_loss
    if loss.type == "binary_crossentropy":
        return F.binary_cross_entropy_with_logits
    return lambda y, t: F.cross_entropy(y, t, label_smoothing=loss.label_smoothing)


def _metrics(r, out: torch.Tensor, y: torch.Tensor, loss_fn) -> dict[str, float]:
    result = {}
    for m in r.evaluation.metrics:
        if m == "loss":
            result["loss"] = loss_fn(out, y).item()
        elif m == "accuracy":
            if out.shape[-1] == 1:
                pred = (out > 0).to(y.dtype)
            else:
                pred = out.argmax(-1)
                y = y.argmax(-1) if y.dim() == out.dim() else y
            result["accuracy"] = (pred == y).float().mean().item()
        elif m == "mse":
            result["mse"] = F.mse_loss(out, y).item()
        elif m == "mae":
            result["mae"] = F.l1_loss(out, y).item()
    return result


# ---------------------------------------------------------------------------------------- the loop
def train(prep: Prepared, device: str, workdir: Path) -> float:
    r = prep.recipe
    dev = torch.device(device)
    t0 = time.perf_counter()
    dtype = torch.float32 if r.dtype == "float32" else torch.float64
    model, mapping = MODELS[r.metadata.name](dtype)
    _load(model, mapping, prep.initial)
    model.to(dev)
    opt = _optimizer(r, [p for p in model.parameters() if p.requires_grad])
    scheduler = _scheduler(r, opt)
    loss_fn = _loss(r)
    clip = r.gradient_clipping
    xe, ye = torch.from_numpy(prep.data.x_eval).to(dev), torch.from_numpy(prep.data.y_eval).to(dev)
    every = r.evaluation.every
    ckpt = r.checkpoint
    kept: list[Path] = []
    with open(workdir / "log.jsonl", "w") as log:
        for step in range(prep.total_steps):
            _, x, y = prep.data.batch(step)
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(torch.from_numpy(x).to(dev)), torch.from_numpy(y).to(dev))
            loss.backward()
            if clip is not None and clip.type == "global_norm":
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip.max_norm)
            elif clip is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), clip.clip_value)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if scheduler is not None:
                scheduler.step()
            record = {"step": step + 1, "loss": loss.item(), "lr": lr}
            done = step + 1
            if (every and done % every == 0) or done == prep.total_steps:
                model.eval()
                with torch.no_grad():
                    record["eval"] = _metrics(r, model(xe), ye, loss_fn)
            log.write(json.dumps(record) + "\n")
            if ckpt is not None and (done % ckpt.every == 0 or done == prep.total_steps):
                path = workdir / f"step-{done:08d}.pt"
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done}, path)
                kept.append(path)
                while len(kept) > ckpt.keep:
                    kept.pop(0).unlink()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    assert math.isfinite(record["loss"])
    return time.perf_counter() - t0
