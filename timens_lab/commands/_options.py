"""Options shared by several subcommands, spelled once."""

from __future__ import annotations

import argparse


def add_rootless(p: argparse.ArgumentParser, *, plural: bool = False) -> None:
    """``--rootless`` / ``--no-rootless`` (default: decided by CAP_SYS_ADMIN, see Lab)."""
    what = "user namespaces too" if plural else "a user namespace too"
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rootless", dest="rootless", action="store_true", default=None,
                      help=f"create {what} (default for non-root users)")
    mode.add_argument("--no-rootless", dest="rootless", action="store_false",
                      help="plain CLONE_NEWTIME (needs CAP_SYS_ADMIN; default for root)")
