"""Code generation: ``proto/`` + ``codegen/channels.toml`` -> ``mexc_core/_generated/``.

Run ``python -m codegen`` to regenerate and ``python -m codegen --check`` to prove
the committed files are current. See ``docs/codegen.rst``.
"""
