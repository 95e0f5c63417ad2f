"""X.509 CA ceremony (issue 16): a root CA on a token, issuance from CSRs, CRLs, Notation trust.

The pure layer (bytes in, bytes out, no token, journal or workspace) is ``der``, ``profile``,
``csr``, ``lint``, ``crl``, ``trust`` and ``approval``; the ceremony is built on top of them.
"""
