"""Offline root key ceremonies for TUF repositories and Notary v1 collections."""

__version__ = "0.1.0"
