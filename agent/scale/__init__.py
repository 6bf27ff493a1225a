"""Many goals on a pool of workers, each holding one loaded model: in this process, in worker processes on
this machine, or in Ray actors on a cluster.

A worker runs one attempt at a goal and relays the run's store writes (the run's metadata, each event as it
happens, the result) back as messages; the driver writes them into its own run store, so a worker that dies
loses nothing that was recorded, and the next attempt resumes from there. `runner.GoalRunner` is that loop.
Nothing here imports Ray, except `ray_pool`, which only `--ray` loads.
"""
