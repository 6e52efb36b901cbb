"""`python -m attnstudy`: see `attnstudy.cli`."""

import sys

from attnstudy.cli import main

if __name__ == "__main__":
    sys.exit(main())
