"""eval stage of the SID Lens engine."""
