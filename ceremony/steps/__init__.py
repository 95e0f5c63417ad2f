"""The steps that advance a ceremony, one module each, each a function over a
:class:`ceremony.session.Session`: the only code that journals what the step did.

Steps import the session, never the engine: ``ceremony.engine.Ceremony`` is the
facade over them (engine → steps → session).
"""
