//! Admission to the engine: at most N requests at work, at most Q waiting, the rest
//! refused at once (a queue that only grows would turn a burst into timeouts for all).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The request was refused: the engine is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// Requests at work when it was refused.
    pub in_flight: usize,
    /// Requests waiting when it was refused.
    pub queued: usize,
}

/// Counts and bounds the requests at work on the engine and those waiting for it.
pub struct Admission {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    max_queue: usize,
    queued: AtomicUsize,
}

/// Undoes a queue entry when dropped (also when the client goes away while waiting).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// At most `max_in_flight` (at least 1) at work and `max_queue` waiting.
    pub fn new(max_in_flight: usize, max_queue: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Admission {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            max_queue,
            queued: AtomicUsize::new(0),
        }
    }

    /// Requests at work now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }

    /// Requests waiting now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Waits for a place at work, or refuses at once when none is free and the queue is
    /// full. The permit is held for as long as the work runs.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.queued.fetch_add(1, Ordering::SeqCst);
        let _entry = Queued(&self.queued);
        if ahead >= self.max_queue {
            return Err(Busy { in_flight: self.in_flight(), queued: ahead });
        }
        // The semaphore is never closed, so acquiring only fails if it were.
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Busy { in_flight: self.in_flight(), queued: ahead })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn refuses_when_every_place_is_taken_and_the_queue_is_full() {
        block_on(async {
            let a = Admission::new(1, 0);
            let held = a.enter().await.expect("a free place");
            assert_eq!((a.in_flight(), a.queued()), (1, 0));
            assert_eq!(a.enter().await.unwrap_err(), Busy { in_flight: 1, queued: 0 });
            // The refusal left no queue entry behind; a freed place is taken again.
            assert_eq!(a.queued(), 0);
            drop(held);
            assert_eq!(a.in_flight(), 0);
            let _again = a.enter().await.expect("the place was given back");
        });
    }

    #[test]
    fn a_waiting_request_gets_the_place_when_it_is_freed() {
        block_on(async {
            let a = Arc::new(Admission::new(1, 1));
            let held = a.enter().await.unwrap();
            let waiter = {
                let a = a.clone();
                tokio::spawn(async move { a.enter().await.map(drop) })
            };
            // Let the waiter queue up, then a third request finds the queue full.
            while a.queued() == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(a.enter().await.unwrap_err(), Busy { in_flight: 1, queued: 1 });
            drop(held);
            waiter.await.unwrap().expect("admitted once the place was freed");
            assert_eq!((a.in_flight(), a.queued()), (0, 0));
        });
    }
}
