"""CLI subcommands. Each module here defines ``register(subparsers)`` that adds
one or more subcommands; ``conrt.cli`` discovers them, so adding a command is
adding a file. A subcommand sets ``func(args) -> int`` on its parser."""
