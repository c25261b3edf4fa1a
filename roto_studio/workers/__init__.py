"""Threads: the model service and long jobs with progress and cancel. No widgets."""
