//! Time as the queue manager sees it: the workspace's one injected clock (crates/core), so tests
//! can walk a retry schedule in milliseconds instead of hours.

pub use authrelay_core::clock::{Clock, ManualClock, SystemClock};
