"""Analysis: structural (AST) diffs of record scripts, innovation attribution, lineage (blame),
and the attribution reports (JSON, Markdown, HTML)."""
