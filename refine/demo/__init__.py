"""Synthetic companies with planted structure, for the demo, the tests and the benches.

Modules: `company` (the demo company: customers, a month of feedback and truth.json), `worlds` (randomized
worlds: many tables with planted structure). May use refine.run.
"""
