"""The TensorFlow adapter (needs `pip install 'lockstep[tensorflow]'`): the spec on Keras 3 / TensorFlow.

TensorFlow reads two environment variables once, when it is first imported, so they are set here,
before that import and only where the user has not set them (docs/adapters/tensorflow.md, "Environment"):
`TF_CPP_MIN_LOG_LEVEL=2` silences the C++ start-up chatter that would otherwise interleave with the
runner's progress display; `TF_ENABLE_ONEDNN_OPTS=0` turns off oneDNN's custom CPU kernels, whose
float32 results depend on the thread count (measured: small-cnn's final float32 loss changes in the 7th
digit between 1 and 2 intra-op threads with oneDNN, not at all without it) and are not faster for
Lockstep's small models. Float64 results are the same either way.
"""

import os
import sys

#: whether TensorFlow was imported before this package (then the defaults below came too late)
IMPORTED_BEFORE_ADAPTER = "tensorflow" in sys.modules
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from lockstep.adapters.tensorflow.adapter import TensorFlowAdapter  # noqa: E402

__all__ = ["TensorFlowAdapter"]
