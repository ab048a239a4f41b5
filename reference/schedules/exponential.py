"""exponential: lr(t) = base · γ^t."""


def learning_rate(schedule, base: float, t: int) -> float:
    return base * schedule.gamma**t
