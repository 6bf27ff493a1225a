"""`python -m agent.cli ...` is `autogpt ...`."""

from agent.cli import main

if __name__ == "__main__":  # not when a worker process started by `batch --workers N` imports it
    main()
