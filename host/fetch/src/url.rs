//! The few URL operations downloads need: credentials in the authority
//! (`scheme://user:password@host/...`), percent-decoding, and the file name at the end of the
//! path. Scheme-specific parsing stays with each scheme ([`crate::ftp::parse_url`]).

/// Splits off the userinfo of `url`'s authority: the URL without it, and the raw userinfo.
fn split(url: &str) -> (String, Option<&str>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((info, host)) => (
            format!("{scheme}://{host}{}", &rest[authority_end..]),
            Some(info),
        ),
        None => (url.to_string(), None),
    }
}

/// `url` without the `user:password@` of its authority, for requests and messages.
pub fn without_userinfo(url: &str) -> String {
    split(url).0
}

/// Splits `scheme://user:password@rest` into the URL without credentials and the
/// percent-decoded user and password (an empty password when there is no `:`).
pub fn split_userinfo(url: &str) -> Result<(String, Option<(String, String)>), String> {
    let (bare, info) = split(url);
    let credentials = match info {
        Some(info) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            Some((percent_decode(user)?, percent_decode(password)?))
        }
        None => None,
    };
    Ok((bare, credentials))
}

/// Decodes `%XX` escapes; refuses bad escapes, non-UTF-8 results and line breaks or NUL
/// (which would end an FTP command early).
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let out = String::from_utf8(out).map_err(|_| format!("`{text}` is not UTF-8"))?;
    if out.contains(['\r', '\n', '\0']) {
        return Err(format!("`{text}` holds a line break or NUL"));
    }
    Ok(out)
}

/// The last segment of `url`'s path (query and fragment left out), or `package` when it has
/// none that can be a file name.
pub fn file_name(url: &str) -> String {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |start| &rest[start..]),
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
    {
        Some(name) => name.to_string(),
        None => "package".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_taken_out_of_the_url() {
        let (url, creds) = split_userinfo("http://u:p%40ss@h:1/packages/a@b.tgz").unwrap();
        assert_eq!(url, "http://h:1/packages/a@b.tgz");
        assert_eq!(creds, Some(("u".into(), "p@ss".into())));
        assert_eq!(split_userinfo("https://h/x").unwrap().1, None);
        assert_eq!(
            split_userinfo("ftp://bob@h/x").unwrap().1,
            Some(("bob".into(), String::new()))
        );
        assert_eq!(without_userinfo("ftp://u:secret@h/x"), "ftp://h/x");
        assert!(split_userinfo("http://u%0d%0a:p@h/x").is_err());
    }

    #[test]
    fn names_and_escapes() {
        for (url, name) in [
            ("http://h/a/b/monitor.rpm?x=1", "monitor.rpm"),
            ("ftp://u:p@h/pkg-1.0.tgz", "pkg-1.0.tgz"),
            ("/srv/pkg.tar", "pkg.tar"),
            ("http://h/dir/", "package"),
            ("http://h", "package"),
        ] {
            assert_eq!(file_name(url), name, "{url}");
        }
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert!(percent_decode("a%2").is_err());
    }
}
