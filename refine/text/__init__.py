"""Layer 2, the text stages: what each comment says.

Modules: `embed` (the Embedder protocol, sentence-transformers, the content-hash cache), `embed_onnx` and
`embed_multilingual` (other backends), `language` (offline language id), `sentences` (comments split into
sentences with their vectors); subpackages `sentiment` (scorers, the stage, the review model) and `themes`
(topic clustering, two-level themes, names, codeframes). May import refine.io, never a higher layer.
"""
