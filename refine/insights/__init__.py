"""Layer 4, insights: what moves the score and what changed since last month.

Modules: `stage` (compute_insights, the CycleInsights record), `drivers` (theme drivers, score-change
attribution, emerging and fading themes), `history` (the trend across cycles), `charts` (their inline SVG).
"""
