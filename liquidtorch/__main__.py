"""``python -m liquidtorch``: the command line (see :mod:`liquidtorch.cli`)."""

from .cli.main import main

if __name__ == "__main__":
    main()
