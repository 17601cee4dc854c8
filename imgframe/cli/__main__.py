"""``python -m imgframe.cli``: the ``imgframe`` program."""

import sys

from imgframe.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
