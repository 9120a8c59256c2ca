//! The controller: the one writer of state; pure decisions apart from their I/O.
