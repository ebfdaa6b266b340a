"""One module per ``timens-lab`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``."""
