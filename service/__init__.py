"""The service layer: what the CLI and the app call."""
