"""`python -m agent.cli ...` is `autogpt ...`."""

from agent.cli import main

main()
