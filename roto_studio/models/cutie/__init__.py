"""Cutie video propagation (rf-cutie)."""
