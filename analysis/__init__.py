"""Analysis: structural (AST) diffs of record scripts and innovation attribution."""
