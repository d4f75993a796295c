//! Admin commands of smart lockout and the per-organisation limits: `user unlock`, and the
//! lockout and limit lines of `user show` and `org show`.

use crate::store::Dir;
use authrelay_core::Address;
use authrelay_directory::SignInEntry;
use authrelay_i18n::{t, Arg, Lang};

use crate::output::{field, say, when, CliError};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `authrelay user unlock ADDRESS`: clears every lockout counter of the name and records the
/// unlock in the sign-in log (check "unlock", mechanism "admin", client "cli"), so the log
/// shows when and why a locked user could sign in again.
pub async fn unlock(dir: &Dir, address: &Address, lang: Lang) -> Result<(), CliError> {
    let (ops, actor) = crate::operations::ops(dir);
    let was_locked = ops.unlock_user(&actor, address.as_str()).await?;
    let at = now();
    dir.record_signin(&SignInEntry {
        at,
        client_ip: "cli".into(),
        client_port: 0,
        tls: "none".into(),
        mechanism: "admin".into(),
        user: address.to_string(),
        credential: None,
        check: authrelay_core::Check::Unlock,
        reply: None,
        success: false,
        listener: None,
    })
    .await?;
    let id = if was_locked > 0 { "user-unlocked" } else { "user-unlock-not-locked" };
    say(lang, id, &[("address", Arg::Str(address.as_str()))]);
    Ok(())
}

/// The lockout line(s) of `user show`.
pub async fn print_lockout(dir: &Dir, address: &str, lang: Lang) -> Result<(), CliError> {
    let label = t(lang, "label-lockout", &[]);
    let at = now();
    let mut any = false;
    for e in dir.lockouts(address).await? {
        let place = match &e.location {
            None => t(lang, "lockout-where-unfamiliar", &[]),
            Some(ip) => t(lang, "lockout-where-familiar", &[("ip", Arg::Str(ip))]),
        };
        let text = if e.locked_until > at {
            t(
                lang,
                "lockout-locked",
                &[("until", Arg::Str(&when(lang, Some(e.locked_until)))), ("where", Arg::Str(&place))],
            )
        } else if e.failures > 0 {
            t(lang, "lockout-counting", &[("failures", Arg::from(e.failures as usize)), ("where", Arg::Str(&place))])
        } else {
            continue;
        };
        field(if any { "" } else { &label }, text);
        any = true;
    }
    if !any {
        field(&label, t(lang, "lockout-none", &[]));
    }
    Ok(())
}

/// The limit lines of `org show` / `org set`.
pub async fn print_org_limits(dir: &Dir, org: &str, lang: Lang) -> Result<(), CliError> {
    let limits = dir.org_limits(org).await?;
    let default = t(lang, "limit-server-default", &[]);
    let show = |v: Option<u64>| v.map(|v| authrelay_i18n::number(lang, v as f64)).unwrap_or_else(|| default.clone());
    let size = limits.max_message_size.map(|b| authrelay_i18n::size(lang, b)).unwrap_or_else(|| default.clone());
    field(&t(lang, "label-max-message-size", &[]), size);
    field(&t(lang, "label-max-recipients", &[]), show(limits.max_recipients));
    field(&t(lang, "label-daily-recipients", &[]), show(limits.daily_recipients));
    field(&t(lang, "label-max-sessions", &[]), show(limits.max_sessions));
    let language = dir.org_language(org).await?.as_deref().and_then(Lang::parse).unwrap_or_default();
    field(&t(lang, "label-org-language", &[]), t(lang, authrelay_i18n::values::lang_id(language), &[]));
    Ok(())
}
