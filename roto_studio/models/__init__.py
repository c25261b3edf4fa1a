"""Backends (torch and classical) behind small interfaces. Never imports Qt."""
