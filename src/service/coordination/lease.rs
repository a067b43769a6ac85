//! One worker's lease as its process sees it: the fencing token it won, and until when it
//! may write.
//!
//! The server decides who owns a lease (see [`super::state`]); this handle adds a local,
//! conservative deadline so a process that was paused (GC, SIGSTOP, a frozen VM) or cut off
//! from the database stops writing *before* another process can have taken over: it may
//! write until `LEASE_TIME · 2/3` after it sent its last successful renewal, measured on the
//! monotonic clock (which keeps running while the process is stopped). The server-side expiry
//! is at least `LEASE_TIME` after that moment, leaving a third of the lease as a safety margin
//! for a write already on the wire. A write that still arrives late is harmless: the
//! write-back is write-once (`crate::sink::mongo`) and the resume point is fenced by the
//! token, so a stale owner can neither score a document twice nor move the resume point.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::service::error::StoreError;

/// A lease held by this process.
#[derive(Debug)]
pub struct Lease {
    /// The worker (`collection/hostname`), the state document's `_id`.
    pub key: String,
    /// This process's owner id.
    pub owner: Arc<str>,
    /// The fencing token won with the lease.
    pub token: i64,
    safe_for: Duration,
    valid_until: Mutex<Instant>,
    lost: AtomicBool,
}

impl Lease {
    /// A lease won by a request sent at `sent_at`.
    pub fn new(
        key: String,
        owner: Arc<str>,
        token: i64,
        sent_at: Instant,
        lease_time: Duration,
    ) -> Self {
        let safe_for = lease_time * 2 / 3;
        Self {
            key,
            owner,
            token,
            safe_for,
            valid_until: Mutex::new(sent_at + safe_for),
            lost: AtomicBool::new(false),
        }
    }

    /// A renewal sent at `sent_at` succeeded.
    pub fn renewed(&self, sent_at: Instant) {
        let mut g = match self.valid_until.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = (*g).max(sent_at + self.safe_for);
    }

    /// Another process holds the lease now.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Whether the lease is known lost.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Call right before every write: `Ok` while the lease is safely held.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.is_lost() {
            return Err(StoreError::LeaseLost {
                key: self.key.clone(),
            });
        }
        let until = match self.valid_until.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        if Instant::now() >= until {
            return Err(StoreError::LeaseExpired {
                key: self.key.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stop_before_the_server_side_expiry() {
        let t = Duration::from_millis(300);
        let l = Lease::new("c/h".into(), "me".into(), 1, Instant::now(), t);
        assert!(l.check().is_ok());
        std::thread::sleep(Duration::from_millis(220));
        assert!(
            matches!(l.check(), Err(StoreError::LeaseExpired { .. })),
            "2/3 of the lease time passed without a renewal"
        );
        l.renewed(Instant::now());
        assert!(l.check().is_ok());
        l.lose();
        assert!(matches!(l.check(), Err(StoreError::LeaseLost { .. })));
    }
}
