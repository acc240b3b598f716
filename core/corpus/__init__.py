"""corpus stage of the SID Lens engine."""
