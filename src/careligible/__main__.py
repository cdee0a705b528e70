"""``python -m careligible`` runs the command line."""

from .cli import main

main()
