"""``python -m compression.reference``: see :func:`compression.reference.cli.main`."""

from compression.reference.cli import main

raise SystemExit(main())
