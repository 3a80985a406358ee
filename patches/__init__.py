"""Patches: a vulnerability-feed server for fleets of scanners, in bounded memory."""

__version__ = "0.1.0"
