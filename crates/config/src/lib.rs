//! The configuration file: defaults, then the TOML file, then environment and flags — parsed
//! once into [`Effective`], with every problem reported together (`authrelay config check`
//! prints it). A library so the binary and the `config` fuzz target use the same code.
//!
//! Layout (each module uses only the ones before it): `problem.rs` (one problem: key and
//! message), `acme.rs` (`[tls] acme`), `access.rs` (`[oauth]`, `[[connectors]]`), `admin.rs` (`[admin]`), `delivery.rs`
//! (`[delivery]`, `[[routes]]` with their OAuth keys), `listeners.rs` (`[[listeners]]`), `config.rs` (the whole file and
//! [`Effective`]).

pub mod access;
pub mod acme;
pub mod admin;
pub mod config;
pub mod delivery;
pub mod listeners;
pub mod problem;

pub use config::*;
pub use problem::Problem;
