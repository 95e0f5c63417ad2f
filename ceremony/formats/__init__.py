"""Metadata formats: TUF (python-tuf's Metadata API) and the Notary v1 dialect."""
