//! `authrelay oauth keygen`: a key and a self-signed certificate for certificate credentials
//! (`private_key_jwt`) at Microsoft Entra; prints what to upload to the app registration and
//! what to put in the route (README, "Entra app with a certificate").

use authrelay_i18n::{Arg, Lang};
use authrelay_oauth::assertion::{self, KeyError};

use crate::cli::OauthCommand;
use crate::output::{say, when, CliError};
use authrelay_config::Effective;

pub fn run(c: OauthCommand, config: &Effective, lang: Lang) -> Result<(), CliError> {
    let OauthCommand::Keygen { out, name, days, json } = c;
    let dir = out.unwrap_or_else(|| config.data_dir.join("oauth"));
    let name = name.unwrap_or_else(|| format!("authrelay {}", config.hostname));
    if !(1..=3650).contains(&days) {
        return Err(CliError::new("err-oauth-keygen-days").arg("days", days).usage());
    }
    let made = assertion::generate(&dir, &name, days).map_err(|e| match e {
        KeyError::Exists(path) => CliError::new("err-oauth-keygen-exists").arg("path", path.display()).usage(),
        other => CliError::new("err-oauth-keygen").arg("reason", other),
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&made).unwrap_or_default());
        return Ok(());
    }
    let certificate = made.certificate_file.display().to_string();
    let key = made.key_file.display().to_string();
    say(lang, "oauth-keygen-done", &[("certificate", Arg::Str(&certificate)), ("key", Arg::Str(&key))]);
    say(
        lang,
        "oauth-keygen-thumbprints",
        &[("sha1", Arg::Str(&made.thumbprints.sha1_hex)), ("s256", Arg::Str(&made.thumbprints.x5t_s256))],
    );
    say(lang, "oauth-keygen-expires", &[("date", Arg::Str(&when(lang, Some(made.not_after))))]);
    say(lang, "oauth-keygen-route", &[("certificate", Arg::Str(&certificate)), ("key", Arg::Str(&key))]);
    println!();
    print!("{}", made.certificate_pem);
    Ok(())
}
