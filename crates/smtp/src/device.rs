//! The AUTH path's side of device credentials (crates/directory/src/device.rs): finding the one
//! credential a secret names by its tag, and the facts the policy needs about it.

use std::net::IpAddr;

use authrelay_directory::device::tag_of;
use authrelay_directory::{AuthRecord, DeviceCredentialSecret};
use authrelay_policy::DeviceFacts;

/// The live device credential of this mailbox whose tag the secret carries, if any.
pub(crate) fn find<'a>(record: &'a AuthRecord, secret: &str) -> Option<&'a DeviceCredentialSecret> {
    let tag = tag_of(secret)?;
    record.device_credentials.iter().find(|d| d.tag == tag)
}

pub(crate) fn credential_id(record: &AuthRecord, secret: &str) -> Option<i64> {
    find(record, secret).map(|d| d.id)
}

/// Expiry and allow list of the credential the secret verified as, at `now` from `client`.
pub(crate) fn facts(record: &AuthRecord, secret: &str, client: IpAddr, now: i64) -> Option<DeviceFacts> {
    find(record, secret).map(|d| DeviceFacts { expired: d.expired(now), address_allowed: d.allows(client) })
}
