"""Layer 5, the stakeholder report: self-contained HTML and Markdown (templates in refine/templates).

Modules: `render` (write_report: the report of one cycle), `llm` (optional LLM topic labels and summary).
"""
