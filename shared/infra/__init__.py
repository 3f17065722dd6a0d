"""Plumbing every service wires the same way. Domain models never import this package."""
