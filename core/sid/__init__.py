"""sid stage of the SID Lens engine."""
