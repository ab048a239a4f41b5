"""TensorFlow reads TF_ENABLE_ONEDNN_OPTS / TF_CPP_MIN_LOG_LEVEL once, at its first import; the tests'
`pytest.importorskip("tensorflow")` comes before the adapter's own defaults could apply, so the same
defaults are set here (docs/adapters/tensorflow.md, "Environment")."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
