"""Symbolic-regression engines behind one protocol (see base.py)."""
from .base import Candidate, Engine, Front, get_engine, pareto

__all__ = ["Candidate", "Engine", "Front", "get_engine", "pareto"]
