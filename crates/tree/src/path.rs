//! Path rules: ZooKeeper's `PathUtils.validatePath`, and parent/name
//! splitting as `DataTree` and `PrepRequestProcessor` do it.

use proto::ErrorCode;

/// Checks `path` as ZooKeeper's `PathUtils.validatePath` does: absolute,
/// no trailing `/` (except the root), no empty names, no `.` or `..`
/// names, no NUL, no control or otherwise invalid characters (ZooKeeper
/// judges UTF-16 units, so any character outside the BMP is invalid).
pub fn validate(path: &str) -> Result<(), ErrorCode> {
    // ASCII (nearly every path): its bytes are its characters, no copy.
    if path.is_ascii() {
        return validate_chars(path.as_bytes());
    }
    let chars: Vec<char> = path.chars().collect();
    validate_chars(&chars)
}

fn validate_chars<C: Copy + Into<char>>(chars: &[C]) -> Result<(), ErrorCode> {
    if chars.first().map(|c| (*c).into()) != Some('/') {
        return Err(ErrorCode::BadArguments);
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars.last().map(|c| (*c).into()) == Some('/') {
        return Err(ErrorCode::BadArguments);
    }
    for i in 1..chars.len() {
        if !char_ok(chars, i) {
            return Err(ErrorCode::BadArguments);
        }
    }
    Ok(())
}

/// Whether `chars[i]` (i >= 1) is acceptable in its position.
fn char_ok<C: Copy + Into<char>>(chars: &[C], i: usize) -> bool {
    let at = |j: usize| -> char { chars[j].into() };
    let c = at(i);
    let last = at(i - 1);
    let name_ends = i + 1 == chars.len() || at(i + 1) == '/';
    match c {
        '\0' => false,
        '/' => last != '/',
        '.' if last == '.' => !(i >= 2 && at(i - 2) == '/' && name_ends),
        '.' => !(last == '/' && name_ends),
        _ => !invalid_char(c),
    }
}

/// Characters `PathUtils` rejects, judged on UTF-16 units: controls,
/// C1 controls, surrogates (so every non-BMP character), the private use
/// area and the specials block.
fn invalid_char(c: char) -> bool {
    let v = c as u32;
    (1..=0x1f).contains(&v)
        || (0x7f..=0x9f).contains(&v)
        || (0xd800..=0xf8ff).contains(&v)
        || (0xfff0..=0xffff).contains(&v)
        || v > 0xffff
}

/// The parent of `path` as ZooKeeper computes it (`substring(0,
/// lastIndexOf('/'))`), with the root's alias `""` spelled `"/"`. `None`
/// when the path has no `/`.
pub fn parent(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    Some(if slash == 0 { "/" } else { &path[..slash] })
}

/// [`parent`] of a path's bytes.
pub fn parent_bytes(path: &[u8]) -> Option<&[u8]> {
    let slash = path.iter().rposition(|&b| b == b'/')?;
    Some(if slash == 0 { b"/" } else { &path[..slash] })
}

/// The last name of `path` (after its last `/`).
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// ZooKeeper keys the root under both `""` and `"/"`; paddock stores `"/"`.
pub(crate) fn canonical(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// Java's `String.length()` of a path, from its (valid) UTF-8 bytes: UTF-16
/// units, used for ZooKeeper's approximate data size. Counted without
/// decoding: one unit per character, two for the 4-byte ones (a surrogate
/// pair in Java). Recovery counts a million paths with it; most are ASCII.
pub(crate) fn utf16_len(bytes: &[u8]) -> u64 {
    if bytes.is_ascii() {
        return bytes.len() as u64;
    }
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a..",
            "/.a/b.",
            "/ünï ✓",
            "/a/...",
            "/ ",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/.",
            "/a/../b",
            "/./b",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/😀",
        ] {
            assert_eq!(validate(p), Err(ErrorCode::BadArguments), "{p:?}");
        }
    }

    #[test]
    fn parents_and_names() {
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/"), Some("/"));
        assert_eq!(parent("a"), None);
        assert_eq!(name("/a/b"), "b");
        assert_eq!(utf16_len("/😀".as_bytes()), 3);
        for p in [
            "/",
            "/abc",
            "/é/ü",
            "/日本",
            "/😀/a😀b",
            "/\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}",
        ] {
            let units = p.chars().map(|c| c.len_utf16() as u64).sum::<u64>();
            assert_eq!(utf16_len(p.as_bytes()), units, "{p}");
        }
    }
}
