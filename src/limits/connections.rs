//! How many client connections are served at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counts client connections against `limits.max_connections`.
///
/// A connection past the limit is not queued (its client would only see a
/// hang) but shed: it gets one `503 SlowDown` answer and is closed. Shedding
/// itself is bounded: past [`ConnectionGate::shed_capacity`] connections
/// being shed at once, new ones are closed without an answer.
#[derive(Clone)]
pub struct ConnectionGate {
    served: Arc<Semaphore>,
    shedding: Arc<Semaphore>,
}

/// What a connection may do, held for as long as it is open.
pub enum ConnectionPermit {
    /// Served normally.
    Serve(OwnedSemaphorePermit),
    /// Answered `503 SlowDown` and closed.
    Shed(OwnedSemaphorePermit),
    /// Closed at once: too many are being shed already.
    Drop,
}

impl ConnectionGate {
    pub fn new(max_connections: usize) -> Self {
        ConnectionGate {
            served: Arc::new(Semaphore::new(max_connections)),
            shedding: Arc::new(Semaphore::new(Self::shed_capacity(max_connections))),
        }
    }

    /// Connections answered `503` at once, at most.
    pub fn shed_capacity(max_connections: usize) -> usize {
        (max_connections / 16).clamp(16, 256)
    }

    /// The permit for a newly accepted connection.
    pub fn admit(&self) -> ConnectionPermit {
        if let Ok(permit) = self.served.clone().try_acquire_owned() {
            return ConnectionPermit::Serve(permit);
        }
        match self.shedding.clone().try_acquire_owned() {
            Ok(permit) => ConnectionPermit::Shed(permit),
            Err(_) => ConnectionPermit::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_up_to_the_limit_then_sheds_then_drops() {
        let gate = ConnectionGate::new(2);
        let a = gate.admit();
        let b = gate.admit();
        assert!(matches!(a, ConnectionPermit::Serve(_)));
        assert!(matches!(b, ConnectionPermit::Serve(_)));
        let shed: Vec<_> = (0..16).map(|_| gate.admit()).collect();
        assert!(shed.iter().all(|p| matches!(p, ConnectionPermit::Shed(_))));
        assert!(matches!(gate.admit(), ConnectionPermit::Drop));
        drop(a);
        let c = gate.admit();
        assert!(matches!(c, ConnectionPermit::Serve(_)));
        drop(shed);
        assert!(matches!(gate.admit(), ConnectionPermit::Shed(_)));
        drop((b, c));
    }
}
