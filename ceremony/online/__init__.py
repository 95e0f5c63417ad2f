"""The online side: everything that talks to a server lives here, and only here.

The offline ceremony (``ceremony.engine``, ``ceremony.formats``, ``hsm``) must never open a
socket; keeping every network call in this package makes that property easy to check (and to
test by importing the offline modules with sockets forbidden).
"""
