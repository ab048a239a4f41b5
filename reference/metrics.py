"""Evaluation metrics: accuracy, mse, mae (loss comes from the recipe's loss)."""

from __future__ import annotations

import numpy as np


def accuracy(prediction: np.ndarray, target: np.ndarray, loss_type: str, from_logits: bool = True) -> float:
    if prediction.shape[-1] == 1 or loss_type == "binary_crossentropy":
        threshold = 0.0 if from_logits else 0.5
        pred = (prediction.reshape(target.shape) > threshold).astype(np.int64)
        return float((pred == target.astype(np.int64)).mean())
    labels = target.argmax(axis=-1) if target.ndim == prediction.ndim else target
    return float((prediction.argmax(axis=-1) == labels).mean())


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((prediction - target.reshape(prediction.shape)) ** 2))


def mae(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(prediction - target.reshape(prediction.shape))))
