//! `--allow NAME=RULE` values, the `CERTGATE_ALLOW` splitting and the policy built from
//! them. Every rule that parses prints (as `/rules` and `check` show it) to a string that
//! parses back to the same rule, and building a policy from it never panics.
#![no_main]

use certgate::config::cli::split_env_list;
use certgate::policy::{Policy, Rule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = s.parse::<Rule>() {
        let printed = rule.to_string();
        let again: Rule = printed
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(
            again, rule,
            "{s:?} printed as {printed:?} parses to another rule"
        );
    }
    let routes = ["r".to_string(), "admin".to_string()];
    let _ = split_env_list(s, None);
    let items = split_env_list(s, Some(&routes));
    let declared = ["r=/".to_string(), "admin=/admin".to_string()];
    let _ = Policy::from_flags(&declared, &items, &[], &[]);
    let _ = Policy::from_flags(&declared, &[format!("r={s}")], &[], &[]);
});
