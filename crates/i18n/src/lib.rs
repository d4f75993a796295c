//! i18n: every message a person reads, in English, Korean and Indonesian.
//!
//! Catalogues are Fluent files under `locales/<lang>/`, compiled into the binary. A message
//! missing from Korean or Indonesian falls back to English (a test keeps all three complete).
//! A message the code asks for that no catalogue has is a defect: [`t`] records it ([`misses`]),
//! and with `AUTHRELAY_I18N_STRICT=1` (set by the test harnesses) it panics, so a test that
//! shows the message fails. `tests/ids_in_code.rs` finds every id the source can ask for.
//! Numbers and dates are formatted per language here ([`format`]; docs/localization.md).
//! Placeables are not wrapped in Unicode isolation marks: our output goes to terminals, logs
//! and SMTP, where those invisible characters do harm.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

pub mod format;
pub mod values;

pub use format::{number, size, time};
pub use values::{value, Localized};

/// The languages we ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Ko,
    Id,
}

impl Lang {
    pub const ALL: &'static [Lang] = &[Lang::En, Lang::Ko, Lang::Id];

    /// BCP 47 tag: "en", "ko", "id".
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
            Lang::Id => "id",
        }
    }

    /// Reads a tag or POSIX locale name: "ko", "ko-KR", "ko_KR.UTF-8", "id_ID", "in" (the old
    /// ISO code for Indonesian that some systems still use), "en_US.UTF-8".
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['_', '-', '.', '@']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" | "c" | "posix" => Some(Lang::En),
            "ko" | "kor" => Some(Lang::Ko),
            "id" | "in" | "ind" => Some(Lang::Id),
            _ => None,
        }
    }

    /// The language for a command-line run: `--lang`, else `LC_ALL`, `LC_MESSAGES`, `LANG`
    /// (POSIX precedence), else English.
    pub fn detect(flag: Option<&str>) -> Lang {
        if let Some(lang) = flag.and_then(Lang::parse) {
            return lang;
        }
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return Lang::parse(&v).unwrap_or(Lang::En);
                }
            }
        }
        Lang::En
    }

    /// Picks the best language from an HTTP `Accept-Language` header (quality values honoured).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

macro_rules! sources {
    ($lang:literal) => {
        &[
            include_str!(concat!("../locales/", $lang, "/cli.ftl")),
            include_str!(concat!("../locales/", $lang, "/troubleshoot.ftl")),
            include_str!(concat!("../locales/", $lang, "/protection.ftl")),
            include_str!(concat!("../locales/", $lang, "/bench.ftl")),
            include_str!(concat!("../locales/", $lang, "/delivery.ftl")),
            include_str!(concat!("../locales/", $lang, "/web.ftl")),
            include_str!(concat!("../locales/", $lang, "/devices.ftl")),
            include_str!(concat!("../locales/", $lang, "/web-troubleshoot.ftl")),
            include_str!(concat!("../locales/", $lang, "/migrate.ftl")),
            include_str!(concat!("../locales/", $lang, "/lists.ftl")),
            include_str!(concat!("../locales/", $lang, "/web-safety.ftl")),
            include_str!(concat!("../locales/", $lang, "/manage.ftl")),
        ]
    };
}

fn sources(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => sources!("en"),
        Lang::Ko => sources!("ko"),
        Lang::Id => sources!("id"),
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> &'static Bundle {
    static BUNDLES: [OnceLock<Bundle>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match lang {
        Lang::En => &BUNDLES[0],
        Lang::Ko => &BUNDLES[1],
        Lang::Id => &BUNDLES[2],
    };
    slot.get_or_init(|| {
        let id: LanguageIdentifier = lang.tag().parse().expect("static language tag");
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        bundle.set_use_isolating(false);
        // Numbers keep their value (plural and number selectors see it) and print with the
        // language's separators.
        bundle.set_formatter(Some(match lang {
            Lang::En => format::fluent_number_en,
            Lang::Ko => format::fluent_number_ko,
            Lang::Id => format::fluent_number_id,
        }));
        for source in sources(lang) {
            let resource = FluentResource::try_new(source.to_string())
                .unwrap_or_else(|(_, errors)| panic!("{} catalogue does not parse: {errors:?}", lang.tag()));
            bundle
                .add_resource(resource)
                .unwrap_or_else(|errors| panic!("{} catalogue has duplicate ids: {errors:?}", lang.tag()));
        }
        bundle
    })
}

/// An argument to a message: text, a number (formatted per language, and seen as a number by
/// plural selectors), another catalogue message (a value such as "enabled", rendered in the
/// same language), or a point in time (unix seconds, formatted per language).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Str(&'a str),
    Num(f64),
    Msg(&'static str),
    Time(i64),
}

/// An [`Arg`] that owns its text, for messages built now and rendered later.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedArg {
    Str(String),
    Num(f64),
    Msg(&'static str),
    Time(i64),
}

impl OwnedArg {
    pub fn as_arg(&self) -> Arg<'_> {
        match self {
            OwnedArg::Str(s) => Arg::Str(s),
            OwnedArg::Num(n) => Arg::Num(*n),
            OwnedArg::Msg(id) => Arg::Msg(id),
            OwnedArg::Time(t) => Arg::Time(*t),
        }
    }

    /// The argument as plain text in English (for JSON and logs).
    pub fn plain(&self) -> String {
        match self {
            OwnedArg::Str(s) => s.clone(),
            OwnedArg::Num(n) => format::number(Lang::En, *n),
            OwnedArg::Msg(id) => t(Lang::En, id, &[]),
            OwnedArg::Time(secs) => format::time(Lang::En, *secs),
        }
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(s)
    }
}
macro_rules! number_args {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Arg<'_> {
            fn from(n: $ty) -> Self {
                Arg::Num(n as f64)
            }
        }
        impl From<$ty> for OwnedArg {
            fn from(n: $ty) -> Self {
                OwnedArg::Num(n as f64)
            }
        }
    )*};
}
number_args!(i64, u64, i32, u32, usize, f64);

fn misses_set() -> &'static Mutex<BTreeSet<String>> {
    static MISSES: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    MISSES.get_or_init(Default::default)
}

/// Ids asked for in a language whose catalogue lacks them, since the process started.
pub fn misses() -> Vec<String> {
    misses_set().lock().map(|m| m.iter().cloned().collect()).unwrap_or_default()
}

fn missed(lang: Lang, id: &str) {
    let key = format!("{}:{id}", lang.tag());
    if let Ok(mut m) = misses_set().lock() {
        m.insert(key.clone());
    }
    static STRICT: OnceLock<bool> = OnceLock::new();
    if *STRICT.get_or_init(|| std::env::var("AUTHRELAY_I18N_STRICT").is_ok_and(|v| v == "1")) {
        panic!("i18n: message {key} is in no catalogue (crates/i18n/locales)");
    }
}

/// Formats message `id` in `lang`. A missing message is recorded ([`misses`]) and falls back
/// to English, then to the id itself, so the reader sees something rather than an empty line.
pub fn t(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    let mut fargs = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Str(s) => fargs.set(*name, FluentValue::from(*s)),
            Arg::Num(n) => fargs.set(*name, FluentValue::from(*n)),
            Arg::Msg(inner) => fargs.set(*name, FluentValue::from(t(lang, inner, &[]))),
            Arg::Time(secs) => fargs.set(*name, FluentValue::from(format::time(lang, *secs))),
        }
    }
    for candidate in [lang, Lang::En] {
        let b = bundle(candidate);
        if let Some(pattern) = b.get_message(id).and_then(|m| m.value()) {
            let mut errors = vec![];
            return b.format_pattern(pattern, Some(&fargs), &mut errors).into_owned();
        }
        missed(candidate, id);
    }
    id.to_string()
}

/// Renders owned arguments (see [`OwnedArg`]).
pub fn t_owned(lang: Lang, id: &str, args: &[(&str, OwnedArg)]) -> String {
    let args: Vec<(&str, Arg)> = args.iter().map(|(k, v)| (*k, v.as_arg())).collect();
    t(lang, id, &args)
}

/// Whether `id` exists in the English catalogue.
pub fn has(id: &str) -> bool {
    bundle(Lang::En).has_message(id)
}

/// All message ids of one language's catalogue, for completeness tests.
pub fn message_ids(lang: Lang) -> Vec<String> {
    let mut ids = vec![];
    for source in sources(lang) {
        let resource = FluentResource::try_new(source.to_string()).expect("catalogue parses");
        for entry in resource.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                ids.push(m.id.name.to_string());
            }
        }
    }
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message() {
        let en = message_ids(Lang::En);
        assert!(!en.is_empty());
        for lang in [Lang::Ko, Lang::Id] {
            let other = message_ids(lang);
            let missing: Vec<_> = en.iter().filter(|id| !other.contains(id)).collect();
            let extra: Vec<_> = other.iter().filter(|id| !en.contains(id)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
            assert!(extra.is_empty(), "{} has unknown ids {extra:?}", lang.tag());
        }
    }

    #[test]
    fn every_message_formats_in_every_language() {
        for lang in Lang::ALL {
            for id in message_ids(*lang) {
                let text = t(*lang, &id, &[]);
                assert!(!text.trim().is_empty(), "{}:{id} is empty", lang.tag());
                assert!(!text.contains('\u{2068}'), "isolation marks in {id}");
            }
        }
    }

    #[test]
    fn translations_are_not_english_copies() {
        // Catch a catalogue pasted from English: most messages must differ.
        for lang in [Lang::Ko, Lang::Id] {
            let ids = message_ids(Lang::En);
            let same = ids.iter().filter(|id| t(lang, id, &[]) == t(Lang::En, id, &[])).count();
            assert!(
                same * 5 < ids.len().max(1),
                "{}: {same} of {} messages identical to English",
                lang.tag(),
                ids.len()
            );
        }
    }

    #[test]
    fn language_detection() {
        assert_eq!(Lang::parse("ko_KR.UTF-8"), Some(Lang::Ko));
        assert_eq!(Lang::parse("id-ID"), Some(Lang::Id));
        assert_eq!(Lang::parse("in_ID"), Some(Lang::Id));
        assert_eq!(Lang::parse("fr_FR"), None);
        assert_eq!(Lang::detect(Some("ko")), Lang::Ko);
        assert_eq!(Lang::from_accept_language("fr;q=0.9, id;q=0.8, ko;q=0.5"), Lang::Id);
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
    }
}
