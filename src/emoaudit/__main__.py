"""`python -m emoaudit` runs the command line."""

from emoaudit.cli import main

main()
