"""Comparison reports of stored runs: the comparison, its renderers and plots."""
