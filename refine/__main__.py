"""`python -m refine`: the same command line as `refine`."""

from refine.cli.main import main

main()
