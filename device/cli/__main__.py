"""``python -m device.cli``: the same as the ``moodspeaker`` command (the installer uses it)."""

from device.cli import main

raise SystemExit(main())
