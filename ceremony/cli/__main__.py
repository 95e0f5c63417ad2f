"""``python -m ceremony.cli``: the ``ceremony`` command."""

from ceremony.cli import main

raise SystemExit(main())
