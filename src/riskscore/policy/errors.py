"""Errors a policy author can cause, each naming the file, rule or field at fault."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy or reason file that cannot be read or does not validate."""
