//! Request opcodes (`ZooDefs.OpCode`) and reserved xids.

macro_rules! opcodes {
    ($($(#[$m:meta])* $name:ident = $v:expr,)*) => {
        /// A request or transaction type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum OpCode {
            $($(#[$m])* $name = $v,)*
        }

        impl OpCode {
            /// The opcode for a wire value, if known.
            pub fn from_i32(v: i32) -> Option<OpCode> {
                match v {
                    $($v => Some(OpCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    /// Watch notification (never a request).
    Notification = 0,
    /// create.
    Create = 1,
    /// delete.
    Delete = 2,
    /// exists.
    Exists = 3,
    /// getData.
    GetData = 4,
    /// setData.
    SetData = 5,
    /// getACL.
    GetAcl = 6,
    /// setACL.
    SetAcl = 7,
    /// getChildren.
    GetChildren = 8,
    /// sync.
    Sync = 9,
    /// ping.
    Ping = 11,
    /// getChildren2.
    GetChildren2 = 12,
    /// check (multi only).
    Check = 13,
    /// multi.
    Multi = 14,
    /// create2.
    Create2 = 15,
    /// reconfig.
    Reconfig = 16,
    /// checkWatches.
    CheckWatches = 17,
    /// removeWatches.
    RemoveWatches = 18,
    /// createContainer.
    CreateContainer = 19,
    /// deleteContainer (server internal).
    DeleteContainer = 20,
    /// createTTL.
    CreateTtl = 21,
    /// multiRead.
    MultiRead = 22,
    /// auth.
    Auth = 100,
    /// setWatches.
    SetWatches = 101,
    /// sasl.
    Sasl = 102,
    /// getEphemerals.
    GetEphemerals = 103,
    /// getAllChildrenNumber.
    GetAllChildrenNumber = 104,
    /// setWatches2.
    SetWatches2 = 105,
    /// addWatch.
    AddWatch = 106,
    /// whoAmI.
    WhoAmI = 107,
    /// createSession (txn).
    CreateSession = -10,
    /// closeSession.
    CloseSession = -11,
    /// error (txn).
    Error = -1,
}

/// Reserved xids.
pub mod xid {
    /// Watch notifications.
    pub const NOTIFICATION: i32 = -1;
    /// Pings.
    pub const PING: i32 = -2;
    /// Auth packets.
    pub const AUTH: i32 = -4;
    /// setWatches on reconnect.
    pub const SET_WATCHES: i32 = -8;
}
