//! Request paths: `normalize_path` and route matching (`--route NAME=PREFIX`).
//!
//! Input: a path, optionally followed by a NUL byte and "choice" bytes that pick how an
//! equivalent spelling of the path is written (without them the choices come from a hash
//! of the path, so plain paths make good seeds). Invariants:
//! - normalising twice equals normalising once;
//! - the result starts with `/` and holds no dot segment, no `//`, no `;`, `\` or control
//!   byte, and no escape a decoder would treat differently (lowercase hex, unreserved);
//! - equivalent spellings (unreserved characters percent-encoded, non-ASCII characters raw
//!   or percent-encoded, a space raw or as `%20`, hex digits in either case) normalise to
//!   one form, or are all refused;
//! - the matched route is the longest configured prefix that matches on a segment
//!   boundary (checked against a direct reading of the contract); a path in normal form is
//!   accepted as a prefix, and an accepted prefix is stored as, and matches, the
//!   normalised path.
#![no_main]

use certgate::policy::{normalize_path, Policy};
use libfuzzer_sys::fuzz_target;

/// The contract's segment-boundary rule, written independently of the implementation.
fn contract_matches(prefix: &str, path: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix)
            && (prefix.ends_with('/') || path.as_bytes()[prefix.len()] == b'/'))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

struct Choices<'a> {
    bytes: &'a [u8],
    state: u64,
}

impl Choices<'_> {
    fn next(&mut self) -> u8 {
        if let Some((&b, rest)) = self.bytes.split_first() {
            self.bytes = rest;
            return b;
        }
        // xorshift64 once the explicit choices run out
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 24) as u8
    }
}

fn push_escape(out: &mut String, b: u8, lower: bool) {
    let hex = if lower {
        format!("%{b:02x}")
    } else {
        format!("%{b:02X}")
    };
    out.push_str(&hex);
}

/// Another spelling of `path` that the contract says is the same resource.
fn respell(path: &str, c: &mut Choices<'_>) -> String {
    let mut out = String::with_capacity(path.len() * 3);
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // An existing escape: flip its hex case, or decode it when it is unreserved.
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let pick = c.next();
            let h = &path[i + 1..i + 3];
            let v = u8::from_str_radix(h, 16).expect("hex");
            if is_unreserved(v) && pick & 2 == 0 {
                out.push(char::from(v));
            } else {
                out.push('%');
                if pick & 1 == 0 {
                    out.push_str(&h.to_ascii_lowercase());
                } else {
                    out.push_str(&h.to_ascii_uppercase());
                }
            }
            i += 3;
            continue;
        }
        let ch = path[i..].chars().next().expect("char boundary");
        let len = ch.len_utf8();
        let encodable = if ch.is_ascii() {
            is_unreserved(b[i]) || b[i] == b' '
        } else {
            true
        };
        let pick = c.next();
        if encodable && pick & 3 == 0 {
            for &byte in &b[i..i + len] {
                push_escape(&mut out, byte, pick & 4 != 0);
            }
        } else {
            out.push(ch);
        }
        i += len;
    }
    out
}

fn check_normal_form(input: &str, n: &str) {
    assert!(n.starts_with('/'), "{input:?} -> {n:?}: not absolute");
    assert_eq!(
        normalize_path(n).as_deref(),
        Ok(n),
        "{input:?} -> {n:?}: normalising again changes it"
    );
    for bad in ["/../", "/./", "//"] {
        assert!(!n.contains(bad), "{input:?} -> {n:?}: contains {bad:?}");
    }
    assert!(
        !n.ends_with("/..") && !n.ends_with("/."),
        "{input:?} -> {n:?}: ends in a dot segment"
    );
    assert!(
        !n.bytes()
            .any(|b| b == b';' || b == b'\\' || b < 0x20 || b == 0x7f),
        "{input:?} -> {n:?}: holds a byte that must be refused"
    );
    let b = n.as_bytes();
    for (i, _) in n.match_indices('%') {
        let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
            panic!("{input:?} -> {n:?}: truncated escape");
        };
        assert!(
            matches!(h, b'0'..=b'9' | b'A'..=b'F') && matches!(l, b'0'..=b'9' | b'A'..=b'F'),
            "{input:?} -> {n:?}: escape not in uppercase hex"
        );
        let v = (h as char).to_digit(16).unwrap() * 16 + (l as char).to_digit(16).unwrap();
        assert!(
            !is_unreserved(v as u8),
            "{input:?} -> {n:?}: an unreserved character stays encoded"
        );
        assert!(
            !matches!(v, 0x2f | 0x5c | 0),
            "{input:?} -> {n:?}: an encoded separator or NUL passed"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (path, choices) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let seed = path.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let mut c = Choices {
        bytes: choices,
        state: seed,
    };

    let first = normalize_path(path);
    if let Ok(n) = &first {
        check_normal_form(path, n);
    }
    // A stray `%` (refused) next to a respelt escape could form a new, valid one: only
    // paths whose escapes are all well-formed have spellings to compare.
    let b = path.as_bytes();
    let escapes_ok = path.match_indices('%').all(|(i, _)| {
        b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    });
    if !escapes_ok {
        assert!(first.is_err(), "{path:?}: a stray '%' was accepted");
        return;
    }
    let other = respell(path, &mut c);
    let second = normalize_path(&other);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{path:?} and {other:?} normalise differently"),
        (Err(_), Err(_)) => {}
        _ => panic!("{path:?} -> {first:?} but its spelling {other:?} -> {second:?}"),
    }

    // Routes written the way operators write them, in their canonical form.
    let mut flags: Vec<String> = Vec::new();
    for (name, raw) in [
        ("root", "/"),
        ("admin", "/admin"),
        ("admin-tree", "/admin/"),
        ("api", "/api/v1"),
        ("uni", "/é"),
        ("space", "/a b"),
        ("tilde", "/~user/x"),
    ] {
        if let Ok(p) = normalize_path(raw) {
            if !flags.iter().any(|f| f.ends_with(&format!("={p}"))) {
                flags.push(format!("{name}={p}"));
            }
        }
    }
    let fixed = Policy::from_flags(&flags, &[], &[], &[]).expect("canonical prefixes are accepted");
    let Ok(n) = &first else { return };
    let got = fixed
        .match_route(n)
        .map(|i| fixed.routes()[i].prefix.as_str());
    let want = fixed
        .routes()
        .iter()
        .map(|r| r.prefix.as_str())
        .filter(|p| contract_matches(p, n))
        .max_by_key(|p| p.len());
    assert_eq!(
        got, want,
        "{path:?} (normalised {n:?}) matched the wrong route"
    );

    // The path itself as a prefix: a path in normal form is always accepted (`?`/`#`
    // aside); whatever is accepted is stored in normal form, equal to the normalised path,
    // and matches it.
    let own = Policy::from_flags(&[format!("fz={path}")], &[], &[], &[]);
    if n == path && !path.contains(['?', '#']) {
        assert!(
            own.is_ok(),
            "normal prefix {path:?} refused: {:?}",
            own.as_ref().err()
        );
    }
    if let Ok(p) = own {
        assert_eq!(
            &p.routes()[0].prefix,
            n,
            "prefix {path:?} stored unlike its path"
        );
        assert_eq!(
            p.match_route(n),
            Some(0),
            "prefix {path:?} does not match its own path"
        );
    }
});
