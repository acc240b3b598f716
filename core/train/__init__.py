"""train stage of the SID Lens engine."""
