"""Reference adapters with one planted bug each, for the tests of what certify and the pytest plugin say about a
failing example recipe. Kept in one module so the plugin's runs (pytester) can be given this file's text as the
module they import by `module:attribute`, the same classes the in-process tests use."""

from lockstep.adapters.reference import ReferenceAdapter


class Off(ReferenceAdapter):
    """Eval-mode outputs 1 % off: the first batch's predictions fail, before any step (level 4 fails there)."""

    name = "off"

    def build(self, model, *, dtype, device="cpu", recipe=None):  # type: ignore[no-untyped-def]
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        forward = session.forward
        session.forward = lambda x, *, training=False, masks=None: forward(x, training=training, masks=masks) * 1.01
        return session


class Late(ReferenceAdapter):
    """Each updated parameter 0.1 % off: step 1 fails, the predictions from the initial weights pass."""

    name = "late"

    def build(self, model, *, dtype, device="cpu", recipe=None):  # type: ignore[no-untyped-def]
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        step = session.optimizer_step
        session.optimizer_step = lambda *args: step(*args) * 1.001
        return session


class Imaginary(ReferenceAdapter):
    """The reference's outputs and gradients plus an imaginary part: read as float64 the imaginary part was dropped
    without a word, and the adapter was CERTIFIED (sweep 2026-12-07)."""

    name = "imaginary"

    def build(self, model, *, dtype, device="cpu", recipe=None):  # type: ignore[no-untyped-def]
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        forward, gradients = session.forward, session.loss_and_gradients
        session.forward = lambda x, *, training=False, masks=None: forward(x, training=training, masks=masks) + 1j

        def complex_gradients(x, y, *, masks=None):  # type: ignore[no-untyped-def]
            loss, grads = gradients(x, y, masks=masks)
            return loss, {k: g + 3j for k, g in grads.items()}

        session.loss_and_gradients = complex_gradients
        return session
