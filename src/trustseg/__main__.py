"""``python -m trustseg``: the ``trustseg`` command, for an environment whose scripts are not on the PATH."""

from trustseg.cli import main

raise SystemExit(main())
