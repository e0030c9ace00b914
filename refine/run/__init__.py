"""Layer 6, running a cycle: `run_cycle`, the one place the stages are wired, and what it leaves behind.

Modules: `cycle` (run_cycle, top to bottom in the order the data flows), `results` (CycleResult, what a cycle
returns), `folders` (the run folder written from a CycleResult), `engines` (the Dask engine for embedding and
sentiment). Stage caches are refine.memo; progress lines are refine.progress.
"""
