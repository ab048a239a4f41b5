"""step: lr(t) = base · γ^⌊t / step_size⌋."""


def learning_rate(schedule, base: float, t: int) -> float:
    return base * schedule.gamma ** (t // schedule.step_size)
