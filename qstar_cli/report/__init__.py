"""`qstar report`'s parts: reading eval runs (runs), paired tests (paired), tables (tables), the
accuracy-vs-tokens plot (plots), search-tree views (trees) and self-contained HTML (html).
`qstar_cli.stages.report` puts them together and writes the files.
"""
