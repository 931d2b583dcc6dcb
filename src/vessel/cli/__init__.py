"""The `vessel` command: one module per command group, each thin.

Every module listed in `main.GROUPS` exposes `register(subparsers)`, which adds
its commands with `parser.set_defaults(func=...)`; a command function takes the
parsed `argparse.Namespace` and returns an exit code.  Modules import their
heavy dependencies inside the command functions so that `vessel --help` and
fast commands stay fast.
"""
