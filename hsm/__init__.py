"""Tokens and keys: a key held on a token gives its public key and signs bytes.

This package knows nothing about TUF or Notary. ``ceremony`` builds on it.
"""
