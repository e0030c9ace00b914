"""Layer 3, segments: feedback joined with customers, and what to change about the segments.

Modules: `profiles` (join and per-segment profiles with intervals), `search` (candidate conditions and the scan
that tests them), `propose` (MERGE / SPLIT / NEW proposals with evidence), `model` (the proposal records and
proposals.json), `rules` (the rule grammar a CRM can run), `value` (what a theme or proposal is worth),
`decisions` (accept / reject, the history of cycles), `assign` (accepted proposals applied to a fresh table).
"""
