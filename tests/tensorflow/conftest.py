"""TensorFlow reads TF_ENABLE_ONEDNN_OPTS / TF_CPP_MIN_LOG_LEVEL once, at its first import. Importing the
adapter package (which does not import TensorFlow) sets the adapter's defaults before the tests'
`pytest.importorskip("tensorflow")` does (docs/adapters/tensorflow.md, "Environment")."""

import lockstep.adapters.tensorflow  # noqa: F401
