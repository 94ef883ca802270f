//! Server counters for `srvr`, `stat`, `mntr` and `cons`.

/// Request latency in ms: min, max, running total.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Smallest seen.
    pub min_ms: u64,
    /// Largest seen.
    pub max_ms: u64,
    /// Sum of all.
    pub total_ms: u64,
    /// How many.
    pub count: u64,
}

impl Latency {
    /// Adds one observation.
    pub fn record(&mut self, ms: u64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        self.max_ms = self.max_ms.max(ms);
        self.total_ms += ms;
        self.count += 1;
    }

    /// Mean, 0 when empty.
    pub fn avg_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ms as f64 / self.count as f64
        }
    }
}

/// Whole-server counters (reset by `srst`).
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Packets received from clients.
    pub packets_received: u64,
    /// Packets sent to clients.
    pub packets_sent: u64,
    /// Request latencies.
    pub latency: Latency,
    /// Failed authentications.
    pub auth_failed: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Connections refused (limits).
    pub connections_rejected: u64,
}
