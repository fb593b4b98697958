"""Datasets: the mini track's generated corpus, token shards in the speedrun's format, the
FineWeb download, and how a run is pointed at the data its record names."""
