//! Two app passwords of one mailbox that share their lookup hint both sign in. New app
//! passwords never share one (the operations layer regenerates), but a mailbox created before
//! that rule can hold such a pair, and the second one used to be shadowed by the first.

use std::net::SocketAddr;
use std::sync::Arc;

use authrelay_core::{AppPasswordsPolicy, CredentialKind, MfaState, OrgSmtpAuth, SecurityDefaults};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{secrets, Directory, NewAppPassword, NewUser, OrgChange, UserChange};
use authrelay_policy::AuthFacts;
use authrelay_smtp::auth::{AttemptContext, Authenticator, Outcome, Presented};

const USER: &str = "scanner@contoso.com";

async fn attempt(auth: &Authenticator, secret: &str) -> Outcome {
    let ctx = AttemptContext {
        peer: "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        tls: "TLSv1.3".into(),
        mechanism: "PLAIN".into(),
        legacy_listener: None,
    };
    auth.attempt(&ctx, AuthFacts::new_over_tls(), Presented::Secret { user: USER, secret }).await
}

#[tokio::test]
async fn app_passwords_sharing_a_hint_each_sign_in_and_others_do_not() {
    let directory = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
    directory.create_org("Contoso", &["contoso.com".into()]).await.unwrap();
    directory
        .update_org(
            "Contoso",
            OrgChange {
                security_defaults: Some(SecurityDefaults::Off),
                smtp_auth: Some(OrgSmtpAuth::Enabled),
                app_passwords: Some(AppPasswordsPolicy::Allowed),
                device_credentials: None,
            },
        )
        .await
        .unwrap();
    let password_hash = secrets::hash_secret("Scan-To-Mail-2026!");
    directory
        .create_user(NewUser { address: USER.into(), display_name: "Scanner".into(), password_hash })
        .await
        .unwrap();
    directory.update_user(USER, UserChange { mfa: Some(MfaState::Enabled), ..Default::default() }).await.unwrap();

    // Two app passwords whose first letters (the hint) are the same, inserted as an old
    // database holds them.
    let first = "abcdefghijklmnop";
    let second = "abcqrstuvwxyzabc";
    let hint = secrets::app_password_hint(first);
    assert_eq!(hint, secrets::app_password_hint(second), "the pair shares its hint");
    for (name, secret) in [("copier", first), ("fax", second)] {
        let new = NewAppPassword { name: name.into(), hint: hint.clone(), hash: secrets::hash_secret(secret) };
        directory.add_app_password(USER, new).await.unwrap();
    }

    let auth = Authenticator::new(directory.clone());
    for secret in [first, second, "abcd efgh ijkl mnop", "ABCQ RSTU VWXY ZABC"] {
        match attempt(&auth, secret).await {
            Outcome::Accepted { user, .. } => assert_eq!(user.credential, CredentialKind::AppPassword, "{secret}"),
            other => panic!("{secret}: {other:?}"),
        }
    }
    // A third secret with the same hint is none of them; the account password is not tried
    // for a secret shaped like an app password whose hint matched (MFA would refuse it anyway).
    match attempt(&auth, "abczzzzzzzzzzzzz").await {
        Outcome::Refused { decision, .. } => {
            assert_eq!(decision.reply().code(), 535, "{decision:?}")
        }
        other => panic!("a wrong app password: {other:?}"),
    }
    // Each sign-in touched the app password it used.
    let used: Vec<_> = directory.list_app_passwords(USER).await.unwrap();
    assert!(used.iter().all(|a| a.last_used_at.is_some()), "{used:?}");
}
