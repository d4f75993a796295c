//! Secrets: argon2id hashing and verification, the generators for account passwords and app
//! passwords, and the strength rules an admin-chosen password must meet.
//!
//! Nothing here logs or returns a secret in an error; callers get a PHC string, a verdict, or a
//! [`WeakPassword`] that names what to change.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Hashes a secret with argon2id (default parameters: 19 MiB, 2 passes, 1 lane) and a fresh
/// random salt, returning the PHC string that goes into the database.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        // Only fails for out-of-range parameters or salts, and ours are the library's own.
        .expect("argon2id with default parameters and a generated salt cannot fail")
        .to_string()
}

/// Whether `secret` matches the stored PHC string. A malformed PHC string verifies nothing.
///
/// The parameters are read from the PHC string, so hashes made with older parameters keep
/// working; the final comparison inside `argon2` is constant-time.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// The working memory of one argon2id computation, kept between verifications.
#[derive(Default)]
pub struct HashMemory(Vec<argon2::Block>);

/// [`verify_secret`] computing the hash in `memory`, which is grown to the hash's size once
/// and then reused. The AUTH workers keep one each: allocating and freeing 19 MiB per
/// verification leaves the allocator holding freed blocks on every thread that ever ran one
/// (an AUTH flood measured 300 MiB resident that way; reused, the workers hold 19 MiB each).
pub fn verify_secret_in(secret: &str, phc: &str, memory: &mut HashMemory) -> bool {
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    let memory = &mut memory.0;
    if memory.len() != blocks {
        memory.clear();
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon.hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut memory[..]).is_err() {
        return false;
    }
    // Constant-time, as argon2's own verification.
    use subtle::ConstantTimeEq;
    bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// A valid argon2id hash of a random secret nobody knows.
///
/// The AUTH path verifies against it when the user is unknown, so that an unknown user costs
/// the same argon2id work as a wrong password and the reply time does not reveal which it was.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_secret(&generate_password()))
}

// Alphabets without look-alikes (l/1/I, O/0), so a password read off a screen is typed right.
const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"-_.!#%+=@";

/// Length of a generated account password. With a 65-symbol alphabet that is about 120 bits.
pub const GENERATED_PASSWORD_LEN: usize = 20;

/// A strong random account password: 20 characters from an unambiguous alphabet, with at least
/// one lower-case letter, upper-case letter, digit and symbol (so it passes any site's rules).
pub fn generate_password() -> String {
    let mut rng = OsRng;
    let kinds = [LOWER, UPPER, DIGITS, SYMBOLS];
    let all: Vec<u8> = kinds.concat();
    // One of each kind, the rest from the whole alphabet, then shuffled so the kinds do not
    // sit at predictable positions.
    let mut chars: Vec<u8> = kinds.iter().map(|kind| kind[rng.gen_range(0..kind.len())]).collect();
    while chars.len() < GENERATED_PASSWORD_LEN {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    chars.into_iter().map(char::from).collect()
}

/// Shortest account password an admin may set.
pub const MIN_PASSWORD_LEN: usize = 12;
/// From this length on, a password counts as a passphrase and needs no mix of character kinds.
pub const PASSPHRASE_LEN: usize = 20;

/// Why a chosen password was refused; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password is too short: use at least {min} characters (or let authrelay generate one)")]
    TooShort { min: usize },
    #[error(
        "the password mixes too few kinds of characters: use at least three of lower-case, \
         upper-case, digits and symbols, or a passphrase of 20 characters or more"
    )]
    TooFewKinds,
    #[error("the password contains the user's own address: choose one that does not")]
    ContainsAddress,
    #[error("the password is one of the most commonly used passwords: choose a less guessable one")]
    Common,
}

/// Passwords (and stems of passwords) that guessing attacks try first. Small on purpose: it
/// catches the classics that otherwise pass the length and kind rules, like `Password123!`.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssword",
    "p@ssw0rd",
    "qwerty",
    "qwertyuiop",
    "asdfghjkl",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "changeme",
    "secret",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "trustno1",
    "abc123",
    "spring",
    "summer",
    "autumn",
    "winter",
    "123456789012",
    "1234567890",
];

/// Checks an admin-chosen account password against the strength rules: at least 12 characters;
/// three of four character kinds unless it is a passphrase of 20 or more; not containing the
/// address's local part (when that is 3 characters or longer); not a well-known password.
pub fn check_password_strength(password: &str, address: &str) -> Result<(), WeakPassword> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(WeakPassword::TooShort { min: MIN_PASSWORD_LEN });
    }
    let lowered = password.to_lowercase();
    let local = address.trim().rsplit_once('@').map_or(address.trim(), |(l, _)| l).to_lowercase();
    if local.chars().count() >= 3 && lowered.contains(&local) {
        return Err(WeakPassword::ContainsAddress);
    }
    if is_common(&lowered) {
        return Err(WeakPassword::Common);
    }
    let kinds = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if len < PASSPHRASE_LEN && kinds.iter().filter(|k| **k).count() < 3 {
        return Err(WeakPassword::TooFewKinds);
    }
    Ok(())
}

/// Whether a lower-cased password is a common one, or a common stem padded with digits and
/// symbols at either end (`!password2024`, `Welcome123#`).
fn is_common(lowered: &str) -> bool {
    let stem = lowered.trim_matches(|c: char| !c.is_alphabetic());
    COMMON.iter().any(|c| *c == lowered || *c == stem)
}

/// Number of letters in an app password.
pub const APP_PASSWORD_LEN: usize = 16;

/// A new app password: 16 random lower-case letters (about 75 bits), shown to the user once in
/// four groups of four (`abcd efgh ijkl mnop`) so it is easy to copy by hand. Any spacing the
/// user types back is removed by [`normalize_app_password`].
pub fn generate_app_password() -> String {
    let mut rng = OsRng;
    let mut out = String::with_capacity(APP_PASSWORD_LEN + 3);
    for i in 0..APP_PASSWORD_LEN {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(char::from(b'a' + rng.gen_range(0..26u8)));
    }
    out
}

/// The canonical form of an app password, which is what gets hashed: spaces and hyphens
/// removed, lower-cased. Mail clients and users paste it with and without the grouping.
pub fn normalize_app_password(input: &str) -> String {
    input.chars().filter(|c| *c != ' ' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Whether the input could be an app password: after normalising, exactly 16 ASCII lower-case
/// letters. Lets the AUTH path skip the app-password lookup for ordinary passwords.
pub fn looks_like_app_password(input: &str) -> bool {
    let normalized = normalize_app_password(input);
    normalized.len() == APP_PASSWORD_LEN && normalized.bytes().all(|b| b.is_ascii_lowercase())
}

/// Letters of an app password that are stored in clear as its lookup tag.
pub const APP_PASSWORD_HINT_LEN: usize = 3;

/// The non-secret lookup tag of a normalised app password: its first three letters.
///
/// A user may hold up to 40 app passwords; without a tag the AUTH path would have to try an
/// argon2id verification against each, making one attempt up to 40 times as expensive (a gift to
/// anyone flooding AUTH). With the tag it verifies only the app passwords whose tag matches,
/// which is almost always at most one.
///
/// Trade-off: the tag gives away 3 of the 16 letters (log2(26^3) ≈ 14 bits) to whoever reads the
/// database. The 13 letters that remain are still about 61 bits, and they are only reachable
/// through argon2id, which is far beyond offline guessing.
pub fn app_password_hint(normalized: &str) -> String {
    normalized.chars().take(APP_PASSWORD_HINT_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_secret("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_secret("correct horse battery staple", &phc));
        assert!(!verify_secret("correct horse battery stapler", &phc));
        assert!(!verify_secret("", &phc));
    }

    /// The reusing verification answers exactly as argon2's own, for any parameters the PHC
    /// string carries (the memory follows them), and refuses what does not parse.
    #[test]
    fn verification_in_kept_memory_agrees_with_argon2() {
        let mut memory = HashMemory::default();
        let phc = hash_secret("correct horse battery staple");
        for (secret, expected) in
            [("correct horse battery staple", true), ("correct horse battery stapler", false), ("", false)]
        {
            assert_eq!(verify_secret_in(secret, &phc, &mut memory), expected, "{secret:?}");
            assert_eq!(verify_secret(secret, &phc), expected);
        }
        // Older, smaller parameters (argon2i, m=4096): the memory is resized, the answer right.
        let small = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"old device secret", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_secret_in("old device secret", &small, &mut memory));
        assert!(!verify_secret_in("old device secreT", &small, &mut memory));
        assert!(verify_secret_in("correct horse battery staple", &phc, &mut memory), "and back");
        for bad in ["", "$argon2id$", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$", "plain text"] {
            assert!(!verify_secret_in("x", bad, &mut memory), "{bad:?}");
        }
    }

    #[test]
    fn same_secret_gets_a_fresh_salt() {
        assert_ne!(hash_secret("same"), hash_secret("same"));
    }

    #[test]
    fn malformed_phc_verifies_nothing() {
        for phc in ["", "plain", "$argon2id$", "$argon2id$v=19$m=19456,t=2,p=1$bad$bad"] {
            assert!(!verify_secret("", phc), "{phc:?}");
            assert!(!verify_secret("plain", phc), "{phc:?}");
        }
    }

    #[test]
    fn dummy_hash_is_stable_valid_and_matches_nothing_obvious() {
        let d = dummy_hash();
        assert_eq!(d, dummy_hash());
        assert!(PasswordHash::new(d).is_ok());
        assert!(d.starts_with("$argon2id$"));
        assert!(!verify_secret("", d));
        assert!(!verify_secret("password", d));
    }

    #[test]
    fn generated_passwords_are_strong_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let p = generate_password();
            assert_eq!(p.chars().count(), GENERATED_PASSWORD_LEN);
            assert!(p.bytes().any(|b| LOWER.contains(&b)));
            assert!(p.bytes().any(|b| UPPER.contains(&b)));
            assert!(p.bytes().any(|b| DIGITS.contains(&b)));
            assert!(p.bytes().any(|b| SYMBOLS.contains(&b)));
            assert!(!p.contains(['l', '1', 'I', 'O', '0', 'o']), "{p}");
            assert_eq!(check_password_strength(&p, "someone@example.com"), Ok(()));
            assert!(seen.insert(p));
        }
    }

    #[test]
    fn strength_rules() {
        use WeakPassword::*;
        let cases: &[(&str, &str, Result<(), WeakPassword>)] = &[
            ("Short1!", "bob@example.com", Err(TooShort { min: 12 })),
            ("", "bob@example.com", Err(TooShort { min: 12 })),
            // Eleven characters, counted as characters and not bytes.
            ("ÄÖÜäöü12345", "bob@example.com", Err(TooShort { min: 12 })),
            ("abcdefghijkl", "bob@example.com", Err(TooFewKinds)),
            ("abcdefgh1234", "bob@example.com", Err(TooFewKinds)),
            ("abcdefgh123!", "bob@example.com", Ok(())),
            ("Abcdefghijkl", "bob@example.com", Err(TooFewKinds)),
            ("Abcdefghijk!", "bob@example.com", Ok(())),
            // A long passphrase needs no mix of kinds.
            ("purple elephants dance", "bob@example.com", Ok(())),
            ("aaaaaaaaaaaaaaaaaaaa", "bob@example.com", Ok(())),
            ("alice-Secret-99", "alice@example.com", Err(ContainsAddress)),
            ("xxALICExx99!!", "Alice@Example.com", Err(ContainsAddress)),
            // A local part shorter than 3 is too short to be a meaningful match.
            ("Xbob4Lyfe!!Zz", "bo@example.com", Ok(())),
            ("Password123!", "bob@example.com", Err(Common)),
            ("!!P@ssw0rd2024", "bob@example.com", Err(Common)),
            ("Welcome2024#", "bob@example.com", Err(Common)),
            ("123456789012", "bob@example.com", Err(Common)),
            ("qwertyuiop12", "bob@example.com", Err(Common)),
        ];
        for (password, address, want) in cases {
            assert_eq!(&check_password_strength(password, address), want, "{password:?} for {address}");
        }
    }

    #[test]
    fn weak_password_messages_say_what_to_do() {
        assert!(WeakPassword::TooShort { min: 12 }.to_string().contains("at least 12 characters"));
        assert!(WeakPassword::TooFewKinds.to_string().contains("passphrase"));
        assert!(WeakPassword::ContainsAddress.to_string().contains("choose"));
        assert!(WeakPassword::Common.to_string().contains("choose"));
    }

    #[test]
    fn app_passwords_are_grouped_letters() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let shown = generate_app_password();
            assert_eq!(shown.len(), 19, "{shown}");
            let groups: Vec<&str> = shown.split(' ').collect();
            assert_eq!(groups.len(), 4);
            assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase())));
            assert!(looks_like_app_password(&shown));
            assert_eq!(normalize_app_password(&shown).len(), APP_PASSWORD_LEN);
            assert!(seen.insert(shown));
        }
    }

    #[test]
    fn app_password_normalisation() {
        let cases = [
            ("abcd efgh ijkl mnop", "abcdefghijklmnop"),
            ("abcd-efgh-ijkl-mnop", "abcdefghijklmnop"),
            ("ABCD EFGH ijkl MNOP", "abcdefghijklmnop"),
            ("abcdefghijklmnop", "abcdefghijklmnop"),
            ("  abcd efgh ijkl mnop  ", "abcdefghijklmnop"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_app_password(input), want, "{input:?}");
            assert!(looks_like_app_password(input), "{input:?}");
        }
    }

    #[test]
    fn ordinary_passwords_do_not_look_like_app_passwords() {
        for input in [
            "",
            "abcd efgh ijkl mno",
            "abcd efgh ijkl mnopq",
            "abcd efgh ijkl mn0p",
            "abcd_efgh_ijkl_mnop",
            "abcd\tefgh ijkl mnop",
            "äbcd efgh ijkl mnop",
            "Correct-Horse-Battery-1",
        ] {
            assert!(!looks_like_app_password(input), "{input:?}");
        }
    }

    #[test]
    fn hint_is_the_first_three_letters() {
        assert_eq!(app_password_hint("abcdefghijklmnop"), "abc");
        assert_eq!(app_password_hint(&normalize_app_password("XyZw abcd efgh ijkl")), "xyz");
        assert_eq!(app_password_hint("ab"), "ab");
    }

    #[test]
    fn app_password_hashes_the_normalised_form() {
        let shown = generate_app_password();
        let phc = hash_secret(&normalize_app_password(&shown));
        assert!(verify_secret(&normalize_app_password(&shown.to_uppercase().replace(' ', "-")), &phc));
        assert!(!verify_secret(&shown, &phc));
    }
}
