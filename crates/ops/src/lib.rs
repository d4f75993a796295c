//! The operations layer: every change to organisations, users, credentials and admin accounts,
//! whichever door it comes through (CLI, web pages, REST API, the Troubleshooter's one-click
//! fixes, imports). Each operation checks the actor's role for exactly what it changes,
//! validates its input, hashes secrets, writes the directory and adds one audit record per
//! changed value with the actor's name.
//!
//! Errors are [`OpsError`] values; the CLI and the admin center each map them once (to a
//! catalogue message and exit code, to an HTTP status, code and message).
//!
//! Layout (each module uses only the ones above it): `roles.rs` (roles and permissions),
//! `actor.rs` (who acts: an admin, an API token, a CLI user), `error.rs`, `validate.rs` (the
//! input rules every door shares), `ops.rs` (the operations and the audit record).

pub mod actor;
pub mod error;
pub mod ops;
pub mod roles;
pub mod validate;

pub use actor::Actor;
pub use error::OpsError;
pub use ops::{Change, ChangeListener, DeviceCredentialSpec, DkimKey, Ops, OrgEdit, UserDeletion, UserEdit};
pub use roles::{Permission, Role};
