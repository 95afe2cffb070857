"""``python -m optimizer.cli`` runs the ``staffplan`` command line."""

from optimizer.cli import main

main()
