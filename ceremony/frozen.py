"""``@frozen`` for the ceremony's types: the decorator lives in :mod:`hsm.frozen`.

Why there: ``hsm`` (the token library, which never imports ``ceremony``) defines frozen
types on the path of every keyholder step too (``Algorithm``, ``KeyRef``, ``TokenInfo``),
and pays the same start-up for them; ``ceremony`` depends on ``hsm``, so the one
decorator sits on the lower layer and is re-exported here for the modules that import it
from ``ceremony.frozen``.
"""

from hsm.frozen import frozen

__all__ = ["frozen"]
