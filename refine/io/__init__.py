"""Layer 1, reading and checking what comes in: config, files and databases, validation, redaction, limits.

Modules: `config` (RefineConfig, the only reader of environment variables), `sources` and `tables` (files and
databases read as text cells), `ingest` (map columns, validate, redact, account for every row), `keys` (ids that
match nowhere: masked examples, the likely cause), `privacy`
(redaction, spreadsheet-safe cells), `limits` (what one run may cost), `runs` (a finished run folder read back,
run.json as RunManifest, and the writers every run file goes through). Imports nothing above the top-level
helpers (errors, files, schemas, stats, ...).
"""
