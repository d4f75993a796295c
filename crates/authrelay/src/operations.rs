//! The CLI's door into the operations layer (`authrelay-ops`): the same validation, write and
//! audit record as the admin center's, with the CLI's actor.

use crate::store::Dir;
use authrelay_ops::{Actor, Ops};

/// The operations layer over the data directory's database, and the CLI's actor for the audit
/// log (`cli:USER@HOST`). Every change a command makes goes through it, as the admin center's do.
pub fn ops(dir: &Dir) -> (Ops, Actor) {
    (Ops::new(dir.clone(), dir.clone()), Actor::cli())
}
