"""`python -m scanner` is the same as `medspa-scan`."""
import sys

from .cli.main import main

sys.exit(main())
