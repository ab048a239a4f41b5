"""A clipping threshold above float32's largest value (3.4e38) should clip nothing: every finite float32 gradient
norm is below it. TensorFlow's clip_by_global_norm turns the threshold into inf and scales by inf · (1/inf), NaN;
torch cannot take it at all (its clip value and its optimizers' scalars raise converting it to float32).

    python docs/reproducers/clip-threshold-beyond-float32/frameworks_only.py
"""

values = [0.5, -1.5, 2.0]
threshold = 1e39
try:
    import tensorflow as tf

    g = [tf.constant(values, dtype=tf.float32)]
    clipped, norm = tf.clip_by_global_norm(g, threshold)
    print(f"tensorflow {tf.__version__} clip_by_global_norm(g, 1e39): {clipped[0].numpy().tolist()} "
          f"(norm {float(norm):.4g}; expected the gradients unchanged)")
except ImportError:
    print("tensorflow not installed")
try:
    import torch

    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.tensor(values)
    try:
        torch.nn.utils.clip_grad_value_([p], threshold)
        print(f"torch {torch.__version__} clip_grad_value_(1e39): {p.grad.tolist()}")
    except RuntimeError as exc:
        print(f"torch {torch.__version__} clip_grad_value_(1e39): RuntimeError: {exc}")
except ImportError:
    print("torch not installed")
