//! The directory index page, byte for byte in the layout of nginx's `autoindex on;
//! autoindex_exact_size on; autoindex_localtime on;`: directories first, then files, each
//! sorted by name; names cut at 50 characters; local modification time; exact size in bytes.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in links: all but RFC 3986's unreserved ones.
const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Name column width, as nginx's `NGX_HTTP_AUTOINDEX_NAME_LEN`.
const NAME_WIDTH: usize = 50;

/// One line of the index.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The file name as on disk (any bytes).
    pub name: OsString,
    /// A directory (shown with `/` and size `-`).
    pub is_dir: bool,
    /// Size in bytes (of the target for symlinks).
    pub size: u64,
    /// Modification time (of the target for symlinks).
    pub modified: SystemTime,
}

/// Reads a directory for its index (blocking: run it on a blocking thread).
///
/// Like nginx, names starting with `.` are left out (this also hides uploads in progress).
/// Symlinks are shown with their target's type, size and time, but only when the target stays
/// inside `root` (canonical); dangling ones and those leading out are left out.
pub fn list(dir: &Path, root: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for dirent in std::fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let path = dirent.path();
        if dirent.file_type()?.is_symlink() {
            match std::fs::canonicalize(&path) {
                Ok(real) if real.starts_with(root) => {}
                _ => continue,
            }
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        entries.push(Entry {
            name,
            is_dir: meta.is_dir(),
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
    });
    Ok(entries)
}

/// Renders the page; `uri_path` is the decoded request path (e.g. `/packages/dir/`).
pub fn render(uri_path: &str, entries: &[Entry]) -> String {
    let title = escape_html(uri_path);
    let mut page = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n\
         <h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for entry in entries {
        line(&mut page, entry);
    }
    page.push_str("</pre><hr></body>\r\n</html>\r\n");
    page
}

/// Appends one entry: link, padding to the name column, `dd-Mon-yyyy HH:MM`, size.
fn line(page: &mut String, entry: &Entry) {
    let slash = if entry.is_dir { "/" } else { "" };
    let href = utf8_percent_encode_bytes(entry.name.as_bytes());
    page.push_str(&format!("<a href=\"{href}{slash}\">"));

    let name = String::from_utf8_lossy(entry.name.as_bytes());
    let chars = name.chars().count();
    let mut shown = chars;
    if chars > NAME_WIDTH {
        let cut: String = name.chars().take(NAME_WIDTH - 3).collect();
        page.push_str(&escape_html(&cut));
        page.push_str("..&gt;</a>");
    } else {
        page.push_str(&escape_html(&name));
        if entry.is_dir && chars < NAME_WIDTH {
            page.push('/');
            shown += 1;
        }
        page.push_str("</a>");
        page.push_str(&" ".repeat(NAME_WIDTH - shown));
    }

    let local: chrono::DateTime<chrono::Local> = entry.modified.into();
    let size = if entry.is_dir {
        "-".to_owned()
    } else {
        entry.size.to_string()
    };
    page.push_str(&format!(
        " {} {size:>19}\r\n",
        local.format("%d-%b-%Y %H:%M")
    ));
}

/// Percent-encodes a raw file name for an `href` (non-UTF-8 bytes included).
fn utf8_percent_encode_bytes(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(text) => utf8_percent_encode(text, LINK).to_string(),
        Err(_) => percent_encoding::percent_encode(name, LINK).to_string(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(name: &str, is_dir: bool, size: u64) -> Entry {
        Entry {
            name: name.into(),
            is_dir,
            size,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn renders_like_nginx_autoindex() {
        let when: chrono::DateTime<chrono::Local> =
            (SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).into();
        let when = when.format("%d-%b-%Y %H:%M").to_string();
        let page = render(
            "/packages/a&b/",
            &[
                entry("sub", true, 4096),
                entry("пакет-1.0.tar.gz", false, 12),
                entry("<x>.txt", false, 0),
            ],
        );
        let expected = format!(
            "<html>\r\n<head><title>Index of /packages/a&amp;b/</title></head>\r\n<body>\r\n\
             <h1>Index of /packages/a&amp;b/</h1><hr><pre><a href=\"../\">../</a>\r\n\
             <a href=\"sub/\">sub/</a>{}{when}                   -\r\n\
             <a href=\"%D0%BF%D0%B0%D0%BA%D0%B5%D1%82-1.0.tar.gz\">пакет-1.0.tar.gz</a>{}{when}                  12\r\n\
             <a href=\"%3Cx%3E.txt\">&lt;x&gt;.txt</a>{}{when}                   0\r\n\
             </pre><hr></body>\r\n</html>\r\n",
            " ".repeat(51 - 4),
            " ".repeat(51 - 16),
            " ".repeat(51 - 7),
        );
        assert_eq!(page, expected);
    }

    #[test]
    fn long_names_are_cut_like_nginx() {
        let name = "x".repeat(60);
        let page = render("/", &[entry(&name, false, 1)]);
        assert!(
            page.contains(&format!("<a href=\"{name}\">{}..&gt;</a> ", "x".repeat(47))),
            "{page}"
        );
    }

    #[test]
    fn lists_dirs_first_and_hides_dot_files_and_escaping_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("zdir")).unwrap();
        std::fs::write(root.join("a.txt"), "abc").unwrap();
        std::fs::write(root.join(".hidden"), "").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("b.txt")).unwrap();
        let root = root.canonicalize().unwrap();
        let names: Vec<_> = list(&root, &root)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.is_dir, if e.is_dir { 0 } else { e.size }))
            .collect();
        assert_eq!(
            names,
            [
                ("zdir".into(), true, 0),
                ("a.txt".into(), false, 3),
                ("b.txt".into(), false, 3)
            ]
        );
    }
}
