//! Unit tests: one per operation and error, through prepare + apply.

mod golden;
mod harness;
mod model;
mod ops;
mod snapshot;
