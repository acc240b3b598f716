"""decode stage of the SID Lens engine."""
