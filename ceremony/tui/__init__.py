"""The Textual face of the ceremony: walks a room through the same engine steps as the CLI.

Screens render engine state and collect operator input; every ceremony effect
is a call into :class:`ceremony.engine.Ceremony`, :mod:`ceremony.preflight`,
:mod:`ceremony.record`, or (for transports, detached signatures, the emergency
plan and the printable script) :mod:`ceremony.flows`, which calls
:mod:`ceremony.transfer`, :mod:`ceremony.transport`, :mod:`ceremony.detached`
and :mod:`ceremony.compromise` as the CLI does. Every token call runs in a
thread worker. Import :func:`ceremony.tui.app.make_app` to build the app (Textual is
imported only then).
"""
