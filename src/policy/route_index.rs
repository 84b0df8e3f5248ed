//! Finding a request's route in time that does not grow with the number of routes.
//!
//! A prefix matches a path on a segment boundary (`path.rs`: `prefix_matches`), so the only
//! prefixes that can match a path are the path itself and, for every `/` in it, the part up
//! to and including that `/` and the part before it. Looked up longest first in a map from
//! prefix to route, the first hit is the longest matching prefix: a handful of lookups per
//! request (one or two per path segment), whether there are ten routes or ten thousand.
//! Up to `SCAN_MAX` routes a scan of the prefixes (sorted longest first) is cheaper than
//! hashing the candidates, and gives the same answer.

use super::path::prefix_matches;
use std::collections::HashMap;

/// Up to this many routes, scan; above it, look the candidates up.
const SCAN_MAX: usize = 16;

#[derive(Debug, Clone, Default)]
pub(super) struct RouteIndex {
    /// Prefix → index in the policy's routes; `None` while scanning is cheaper.
    by_prefix: Option<HashMap<Box<str>, usize>>,
}

impl RouteIndex {
    /// `prefixes` in the policy's order (longest first); prefixes are unique.
    pub(super) fn new<'a>(prefixes: impl ExactSizeIterator<Item = &'a str>) -> RouteIndex {
        if prefixes.len() <= SCAN_MAX {
            return RouteIndex { by_prefix: None };
        }
        let mut map = HashMap::with_capacity(prefixes.len());
        for (i, p) in prefixes.enumerate() {
            map.entry(p.into()).or_insert(i);
        }
        RouteIndex {
            by_prefix: Some(map),
        }
    }

    /// Index of the longest prefix matching `path`; `prefix_of(i)` is route i's prefix
    /// (used when scanning).
    pub(super) fn find<'a>(
        &self,
        path: &str,
        count: usize,
        prefix_of: impl Fn(usize) -> &'a str,
    ) -> Option<usize> {
        match &self.by_prefix {
            None => (0..count).find(|&i| prefix_matches(prefix_of(i), path)),
            Some(map) => candidates(path).find_map(|c| map.get(c).copied()),
        }
    }
}

/// Every prefix that can match `path` on a segment boundary, longest first: `path` itself,
/// then for each `/` from the last to the first, the path up to and including it and the
/// path before it.
fn candidates(path: &str) -> impl Iterator<Item = &str> {
    let slashes = path
        .bytes()
        .enumerate()
        .rev()
        .filter(|&(_, b)| b == b'/')
        .map(|(i, _)| i);
    std::iter::once(path).chain(slashes.flat_map(move |i| {
        let with = (i + 1 < path.len()).then(|| &path[..=i]);
        let without = (i > 0).then(|| &path[..i]);
        with.into_iter().chain(without)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_segment_boundary_prefixes_longest_first() {
        let got: Vec<&str> = candidates("/a/bc/").collect();
        assert_eq!(got, ["/a/bc/", "/a/bc", "/a/", "/a", "/"]);
        let got: Vec<&str> = candidates("/a/bc").collect();
        assert_eq!(got, ["/a/bc", "/a/", "/a", "/"]);
        let got: Vec<&str> = candidates("/").collect();
        assert_eq!(got, ["/"]);
    }

    /// Every candidate matches the path, and every prefix that matches is a candidate.
    #[test]
    fn candidates_are_exactly_the_matching_prefixes() {
        for path in ["/", "/a", "/a/", "/a/b", "/a//b", "/abc/def/", "/x/y/z"] {
            let all: Vec<&str> = (1..=path.len()).map(|n| &path[..n]).collect();
            let matching: Vec<&str> = all
                .iter()
                .copied()
                .filter(|p| prefix_matches(p, path))
                .collect();
            let mut got: Vec<&str> = candidates(path).collect();
            got.dedup();
            let mut want = matching.clone();
            want.sort_by_key(|p| std::cmp::Reverse(p.len()));
            assert_eq!(got, want, "{path}");
        }
    }

    /// The map finds what the scan finds, for many routes and many paths (a fixed
    /// pseudo-random set, so a failure reproduces).
    #[test]
    fn lookup_agrees_with_the_scan() {
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        };
        let segs = ["a", "b", "ab", "svc", "r1", "r10", ""];
        let mut gen = |max: usize| {
            let mut p = String::new();
            for _ in 0..=next(max) {
                p.push('/');
                p.push_str(segs[next(segs.len())]);
            }
            p
        };
        let mut prefixes: Vec<String> = (0..400).map(|_| gen(4)).collect();
        prefixes.push("/".into());
        prefixes.sort();
        prefixes.dedup();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let index = RouteIndex::new(prefixes.iter().map(String::as_str));
        assert!(index.by_prefix.is_some());
        let scan = RouteIndex::default();
        for _ in 0..5_000 {
            let path = gen(6);
            let of = |i: usize| prefixes[i].as_str();
            let a = index.find(&path, prefixes.len(), of);
            let b = scan.find(&path, prefixes.len(), of);
            assert_eq!(a, b, "{path}: {:?} vs {:?}", a.map(of), b.map(of));
        }
    }
}
