"""Records: the records repository (``records.git``) and what it holds.

The store (tracks, records, tasks), the typed ``record.toml``, ``records add``, the work
repository that shares the records' objects, and the qualified names a record's script
defines (what innovation anchors and protected names refer to).
"""
