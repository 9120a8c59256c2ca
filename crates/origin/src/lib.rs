//! A small configurable HTTP origin for the demo, the tests and the benchmarks.
