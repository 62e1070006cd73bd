"""Runnable demos: symbolic distillation recovers physics from trained networks (``symfx demo``)."""
