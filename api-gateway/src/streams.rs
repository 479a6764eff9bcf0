//! Caps on the long-lived streams (SSE and WebSocket) one gateway holds: in all
//! (`MAX_STREAMS`), because each stream holds a relay task, a per-job listener and a buffer
//! of events, so the cap bounds the memory clients can make a gateway hold, and a full
//! gateway answers `503` with `Retry-After` at once instead of slowing every stream down; and
//! per principal (`MAX_STREAMS_PER_PRINCIPAL`, per client IP with auth off, `429`), so that
//! one client cannot take every slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Error;

/// Seconds a refused client is told to wait: streams end when jobs end, which takes minutes,
/// but a free slot can appear any moment.
const RETRY_AFTER_SECS: u64 = 5;

/// The open streams of this gateway, counted per principal.
#[derive(Clone)]
pub struct StreamSlots {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_principal: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_principal: HashMap<String, usize>,
}

/// One open stream; its slot frees when this is dropped.
pub struct StreamSlot {
    inner: Arc<Inner>,
    principal: String,
}

impl StreamSlots {
    pub fn new(max_total: usize, max_per_principal: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total,
                max_per_principal,
                open: Mutex::default(),
            }),
        }
    }

    /// Takes a slot for `principal`: 503 when the gateway is full, 429 when the principal
    /// has its share already (both with `Retry-After`).
    pub fn acquire(&self, principal: &str) -> Result<StreamSlot, Error> {
        let mut open = self.inner.open.lock().expect("stream slots lock");
        if open.total >= self.inner.max_total {
            return Err(Error::StreamsExhausted {
                retry_after: RETRY_AFTER_SECS,
            });
        }
        let mine = open.by_principal.entry(principal.to_owned()).or_default();
        if *mine >= self.inner.max_per_principal {
            return Err(Error::TooManyStreams {
                cap: self.inner.max_per_principal,
                retry_after: RETRY_AFTER_SECS,
            });
        }
        *mine += 1;
        open.total += 1;
        Ok(StreamSlot {
            inner: self.inner.clone(),
            principal: principal.to_owned(),
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.inner.open.lock().expect("stream slots lock").total
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.inner.open.lock().expect("stream slots lock");
        open.total -= 1;
        if let Some(mine) = open.by_principal.get_mut(&self.principal) {
            *mine -= 1;
            if *mine == 0 {
                open.by_principal.remove(&self.principal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_principal_and_in_all_and_slots_free_on_drop() {
        let slots = StreamSlots::new(3, 2);
        let a1 = slots.acquire("a").unwrap();
        let _a2 = slots.acquire("a").unwrap();
        assert!(matches!(
            slots.acquire("a"),
            Err(Error::TooManyStreams { cap: 2, .. })
        ));
        let _b1 = slots.acquire("b").unwrap();
        assert!(matches!(
            slots.acquire("c"),
            Err(Error::StreamsExhausted { .. })
        ));
        assert_eq!(slots.open(), 3);
        drop(a1);
        assert_eq!(slots.open(), 2);
        let _c1 = slots.acquire("c").unwrap();
        assert!(slots.acquire("a").is_err(), "the gateway is full again");
    }
}
