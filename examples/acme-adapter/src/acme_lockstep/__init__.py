"""acme-lockstep-adapter: the Lockstep adapter of acme, a (miniature) vendor framework, as a third party ships one.

Installing this package registers the adapter under the entry point group `lockstep.adapters` (pyproject.toml),
so `lockstep adapters` lists `acme` and `lockstep certify --adapter acme` certifies it. Keep this module cheap to
import: `lockstep adapters` imports every registered adapter to list it.
"""

from acme_lockstep.adapter import AcmeAdapter

__version__ = "0.1.0"
__all__ = ["AcmeAdapter", "__version__"]
