"""Point-in-time features by stage, at partner and rep level, and labels."""
