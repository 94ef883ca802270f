//! ZooKeeper's error codes: data in replies, never Rust panics.

use thiserror::Error;

macro_rules! error_codes {
    ($($(#[$m:meta])* $name:ident = $v:expr, $msg:expr;)*) => {
        /// A ZooKeeper error code, as sent in `ReplyHeader.err`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
        #[repr(i32)]
        pub enum ErrorCode {
            $($(#[$m])* #[error($msg)] $name = $v,)*
        }

        impl ErrorCode {
            /// The code for a wire value, if it is one ZooKeeper defines.
            pub fn from_i32(v: i32) -> Option<ErrorCode> {
                match v {
                    $($v => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// Success.
    Ok = 0, "ok";
    /// A system error.
    SystemError = -1, "system error";
    /// A part of multi that was not run because an earlier one failed.
    RuntimeInconsistency = -2, "runtime inconsistency";
    /// Data inconsistency.
    DataInconsistency = -3, "data inconsistency";
    /// Connection loss.
    ConnectionLoss = -4, "connection loss";
    /// Marshalling error.
    MarshallingError = -5, "marshalling error";
    /// The operation is not implemented.
    Unimplemented = -6, "unimplemented";
    /// Operation timeout.
    OperationTimeout = -7, "operation timeout";
    /// Invalid arguments.
    BadArguments = -8, "bad arguments";
    /// Unknown session.
    UnknownSession = -12, "unknown session";
    /// A reconfiguration would leave no quorum.
    NewConfigNoQuorum = -13, "new config has no quorum";
    /// A reconfiguration is in progress.
    ReconfigInProgress = -14, "reconfig in progress";
    /// API error.
    ApiError = -100, "API error";
    /// The node does not exist.
    NoNode = -101, "no node";
    /// Not authorised.
    NoAuth = -102, "not authenticated";
    /// The version did not match.
    BadVersion = -103, "bad version";
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = -108, "ephemeral nodes may not have children";
    /// The node already exists.
    NodeExists = -110, "node exists";
    /// The node has children.
    NotEmpty = -111, "directory not empty";
    /// The session has expired.
    SessionExpired = -112, "session expired";
    /// Invalid callback.
    InvalidCallback = -113, "invalid callback";
    /// Invalid ACL.
    InvalidAcl = -114, "invalid ACL";
    /// Authentication failed.
    AuthFailed = -115, "authentication failed";
    /// The session moved to another server.
    SessionMoved = -118, "session moved";
    /// A write on a read-only server.
    NotReadOnly = -119, "not a read-only call";
    /// An ephemeral on a local session.
    EphemeralOnLocalSession = -120, "ephemeral on local session";
    /// No such watcher.
    NoWatcher = -121, "no watcher";
    /// Request timeout.
    RequestTimeout = -122, "request timeout";
    /// Reconfiguration is disabled.
    ReconfigDisabled = -123, "reconfig disabled";
    /// SASL authentication is required.
    SessionClosedRequireSaslAuth = -124, "session closed: SASL authentication required";
    /// A quota was exceeded.
    QuotaExceeded = -125, "quota exceeded";
    /// The operation was throttled.
    ThrottledOp = -127, "throttled";
}
