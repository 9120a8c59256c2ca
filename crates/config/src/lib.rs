//! lifeline.toml to a validated Topology: spans, ${VAR}, every diagnostic at once.
