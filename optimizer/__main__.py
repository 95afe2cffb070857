"""``python -m optimizer`` runs the ``staffplan`` command line."""

from optimizer.cli import main

main()
