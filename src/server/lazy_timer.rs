//! One timer per connection, re-armed lazily. A keep-alive connection waits for a deadline
//! per request (the idle timeout while parked, `--upstream-timeout` while certgate's own
//! server waits for an answer), and each deadline lies after the one before. Creating and
//! cancelling a timer for each costs two trips to tokio's timer wheel per request; this timer
//! instead stays armed at the earliest deadline asked for, and when it fires before the
//! deadline now waited for it is moved to that one. So the wheel is touched about once per
//! timeout period, not once per request.

use std::pin::Pin;
use tokio::time::{Instant, Sleep};

pub(crate) struct LazyTimer {
    sleep: Pin<Box<Sleep>>,
}

impl LazyTimer {
    pub(crate) fn new(deadline: Instant) -> LazyTimer {
        LazyTimer {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Wait until `deadline` (which may lie after the timer's).
    pub(crate) async fn wait_until(&mut self, deadline: Instant) {
        // Armed later than asked, or spent: arm it for this deadline. Armed earlier: it
        // fires early and is moved on below.
        if self.sleep.deadline() > deadline || self.sleep.is_elapsed() {
            self.sleep.as_mut().reset(deadline);
        }
        loop {
            self.sleep.as_mut().await;
            if Instant::now() >= deadline {
                return;
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn waits_for_each_deadline_whether_armed_earlier_or_later() {
        let start = Instant::now();
        let mut t = LazyTimer::new(start + Duration::from_secs(10));
        // A later deadline than armed: fires early, is moved on, returns at the deadline.
        t.wait_until(start + Duration::from_secs(30)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(30));
        // An earlier one than armed (the timer is spent now): exactly that one.
        let now = Instant::now();
        t.wait_until(now + Duration::from_secs(2)).await;
        assert_eq!(Instant::now() - now, Duration::from_secs(2));
        // A deadline already past returns at once.
        let now = Instant::now();
        t.wait_until(now - Duration::from_secs(1)).await;
        assert_eq!(Instant::now(), now);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_than_armed_is_not_missed() {
        let start = Instant::now();
        let mut t = LazyTimer::new(start + Duration::from_secs(60));
        t.wait_until(start + Duration::from_secs(5)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }
}
