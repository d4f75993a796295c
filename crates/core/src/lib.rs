//! Domain vocabulary shared by every part of authrelay.
//!
//! - [`check`]: the steps of the AUTH decision order, as the sign-in log stores them.
//! - [`display`]: client-controlled text made safe for a log line or a table cell.
//! - [`reply`]: the one catalogue of SMTP replies. No other crate writes a reply literal.
//! - [`settings`]: the values of the three controls (security defaults, Authenticated SMTP,
//!   MFA) and the other organisation / mailbox settings, with their CLI and storage spellings.
//! - [`clock`]: the one injected wall clock (unix time) of the SMTP side and delivery.
//! - [`address`]: a normalised mailbox address.
//! - [`cidr`]: client-address ranges (device credentials' allow lists, connectors).
//! - [`queue_id`]: identifiers of spooled messages.
//! - [`queue_counts`]: what the queue holds, as the queue manager counts it in memory.

pub mod address;
pub mod check;
pub mod cidr;
pub mod clock;
pub mod display;
pub mod queue_counts;
pub mod queue_id;
pub mod reply;
pub mod settings;

pub use address::{Address, AddressError};
pub use check::Check;
pub use cidr::{BadCidr, Cidr};
pub use clock::{Clock, ManualClock, SystemClock};
pub use display::Quoted;
pub use queue_counts::{QueueCounter, QueueCounts};
pub use queue_id::QueueId;
pub use reply::{Reply, ReplyId};
pub use settings::*;
