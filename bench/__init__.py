"""Benchmarks (not tests): ``make bench`` runs every scenario and prints one table."""
