"""Integrations with payment processors: events in, actions out."""
