"""The Textual face of the ceremony: walks a room through the same engine steps as the CLI.

Screens render engine state and collect operator input; every ceremony effect
is a call into :class:`ceremony.engine.Ceremony`, :mod:`ceremony.preflight` or
:mod:`ceremony.record`, and every token call runs in a thread worker. Import
:func:`ceremony.tui.app.make_app` to build the app (Textual is imported only then).
"""
