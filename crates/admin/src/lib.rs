//! The admin API: /health /ready /status /events /metrics /reload.
