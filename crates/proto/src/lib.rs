//! paddock-proto: ZooKeeper's client wire protocol, pure (no I/O, no tokio).
//!
//! Module map:
//! - [`jute`]: the serialization primitives and the [`jute_record!`] macro.
//! - [`records`]: client records of `zookeeper.jute` (Stat, ACL, requests, replies).
//! - [`txn`]: transaction records, as logged and applied.
//! - [`request`] / [`response`]: one enum per direction over every opcode.
//! - [`opcode`], [`error`]: `ZooDefs.OpCode`, `KeeperException.Code`.
//! - [`frame`]: the 4-byte length framing and its limit.
//!
//! Contract: decoding never panics on any input; it returns [`DecodeError`].
#![deny(missing_docs)]

pub mod error;
pub mod frame;
pub mod jute;
pub mod opcode;
pub mod records;
pub mod request;
pub mod response;
pub mod txn;

pub use error::ErrorCode;
pub use jute::{DecodeError, Jute, Reader, Writer};
pub use opcode::OpCode;
pub use records::*;
pub use request::{CreateOp, Request};
pub use response::{MultiResult, Response};
