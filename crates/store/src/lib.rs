//! StateStore: event log, versioned keys, leadership; embedded redb backend.
