//! Unit tests: one per operation and error, through prepare + apply.

mod harness;
mod ops;
