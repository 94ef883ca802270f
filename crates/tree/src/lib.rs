//! paddock-tree
#![deny(missing_docs)]

pub mod watch;
