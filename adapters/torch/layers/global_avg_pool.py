"""global_avg_pool -> torch.mean over the spatial axes."""

from lockstep.adapters.torch.layers._simple import global_avg_pool as build  # noqa: F401
