//! Monitors: http/https, tcp and postgres checks, run on a jittered schedule.
