"""The one error every command raises for a usage or input problem (the feature modules import it from here,
so they never import `cli.main`, which loads them)."""
from __future__ import annotations


class UsageError(Exception):
    """A usage or input problem: printed as one clear line, exit status 2."""
