//! Unit tests: one per operation and error, through prepare + apply.

mod apply_fuzz;
mod golden;
mod harness;
mod model;
mod ops;
mod snapshot;
