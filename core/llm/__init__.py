"""llm stage of the SID Lens engine."""
