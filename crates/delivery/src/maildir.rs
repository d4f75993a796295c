//! Local delivery into Maildir (the layout Dovecot, Courier and Python's `mailbox` read):
//! `<data_dir>/mailboxes/<address>/{tmp,new,cur}`. A message is written under `tmp/`, fsynced,
//! renamed into `new/`, and `new/` is fsynced, so a reader never sees a partial file and a
//! crash never loses an acknowledged one. Folders follow Maildir++ (`.Sent/` with a
//! `maildirfolder` marker).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where the Maildirs live.
#[derive(Debug, Clone)]
pub struct Mailboxes {
    root: PathBuf,
    hostname: String,
}

impl Mailboxes {
    pub fn new(data_dir: &Path, hostname: &str) -> Self {
        Mailboxes { root: data_dir.join("mailboxes"), hostname: hostname.to_string() }
    }

    /// The Maildir of `address`, or an error for an address that could not be a safe
    /// directory name (the directory only holds addresses it accepted, but be sure).
    pub fn path(&self, address: &str) -> io::Result<PathBuf> {
        let name = address.to_ascii_lowercase();
        if name.is_empty() || name.starts_with('.') || name.contains('/') || name.contains('\0') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsafe mailbox name {address:?}")));
        }
        Ok(self.root.join(name))
    }

    /// Delivers into the inbox (`new/`). Returns the file's path.
    pub fn deliver(&self, address: &str, message: &[u8]) -> io::Result<PathBuf> {
        let dir = self.path(address)?;
        ensure_maildir(&dir)?;
        write_into(self, &dir, message, false)
    }

    /// Files a copy in the `.Sent` folder, marked seen (`cur/…:2,S`), as a mail client's own
    /// copy of what it sent is.
    pub fn file_sent(&self, address: &str, message: &[u8]) -> io::Result<PathBuf> {
        let inbox = self.path(address)?;
        ensure_maildir(&inbox)?;
        let folder = inbox.join(".Sent");
        ensure_maildir(&folder)?;
        let marker = folder.join("maildirfolder");
        if !marker.exists() {
            File::create(&marker)?;
        }
        write_into(self, &folder, message, true)
    }

    /// A unique file name per the Maildir spec: time, then `M`icroseconds, `P`id, a per-process
    /// counter (`Q`) and `R`andom bits, then the host name with `/` and `:` escaped.
    pub fn unique_name(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let host = self.hostname.replace('/', "\\057").replace(':', "\\072");
        format!(
            "{}.M{}P{}Q{}R{:016x}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>(),
            host
        )
    }
}

fn ensure_maildir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    for sub in ["tmp", "new", "cur"] {
        b.create(dir.join(sub))?;
    }
    Ok(())
}

fn write_into(names: &Mailboxes, dir: &Path, message: &[u8], seen: bool) -> io::Result<PathBuf> {
    for _ in 0..8 {
        let name = names.unique_name();
        let tmp = dir.join("tmp").join(&name);
        let mut f = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = f.write_all(message).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let (sub, final_name) = if seen { ("cur", format!("{name}:2,S")) } else { ("new", name) };
        let target = dir.join(sub).join(final_name);
        // link + unlink instead of rename: never replaces an existing file (Maildir spec).
        if let Err(e) = fs::hard_link(&tmp, &target) {
            let _ = fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists {
                continue;
            }
            return Err(e);
        }
        fs::remove_file(&tmp)?;
        File::open(dir.join(sub))?.sync_all()?;
        return Ok(target);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no unique Maildir file name after 8 attempts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_into_new_with_unique_names_and_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mailboxes::new(dir.path(), "mx.test");
        let a = m.deliver("Alice@Contoso.com", b"Subject: 1\r\n\r\nx\r\n").unwrap();
        let b = m.deliver("alice@contoso.com", b"Subject: 2\r\n\r\ny\r\n").unwrap();
        assert_ne!(a, b);
        let inbox = dir.path().join("mailboxes/alice@contoso.com");
        assert_eq!(a.parent().unwrap(), inbox.join("new"));
        assert_eq!(fs::read(&a).unwrap(), b"Subject: 1\r\n\r\nx\r\n");
        assert_eq!(fs::read_dir(inbox.join("tmp")).unwrap().count(), 0, "tmp/ is left empty");
        assert!(inbox.join("cur").is_dir());
    }

    #[test]
    fn sent_copies_go_to_a_maildirplusplus_folder_marked_seen() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mailboxes::new(dir.path(), "mx.test");
        let p = m.file_sent("a@x.test", b"Subject: s\r\n\r\n").unwrap();
        assert!(p.to_string_lossy().ends_with(":2,S"));
        assert!(dir.path().join("mailboxes/a@x.test/.Sent/maildirfolder").exists());
        assert!(dir.path().join("mailboxes/a@x.test/new").is_dir());
    }

    #[test]
    fn unsafe_names_are_refused() {
        let m = Mailboxes::new(Path::new("/nonexistent"), "h");
        for bad in ["", "../x@y", "a/b@c", ".hidden@x"] {
            assert!(m.path(bad).is_err(), "{bad}");
        }
    }
}
