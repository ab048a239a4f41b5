"""cosine: lr(t) = min + (base - min)(1 + cos(π min(t, T)/T))/2, T = decay_steps; held at min after T."""

import math


def learning_rate(schedule, base: float, t: int) -> float:
    lo, big_t = schedule.min_learning_rate, schedule.decay_steps
    return lo + (base - lo) * (1 + math.cos(math.pi * min(t, big_t) / big_t)) / 2
