"""``moodspeaker install`` / ``uninstall``: the speaker as a system service, in steps.

Each step is data (what it does, the command it runs, whether it is already done), and one
runner applies them: so ``--dry-run`` prints exactly what an install would do, a second
install does nothing that is already done, and ``--root DIR`` runs the real steps on a
directory tree instead of the machine (the tests do).
"""
