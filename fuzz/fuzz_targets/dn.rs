//! Distinguished Names as operators write them in `subject:`/`issuer:` rules: RFC 4514 and
//! OpenSSL's slash form. Beyond "never panics": every DN that parses prints (RFC 4514,
//! its UTF-8 variant, and slash form) to a string that parses back to the same DN, and the
//! RFC 4514 form is printable ASCII (it becomes an HTTP header value and a log field).
#![no_main]

use certgate::pki::dn::Dn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Dn::parse_rfc4514(s);
    let _ = Dn::parse_slash(s);
    let Ok(dn) = Dn::parse(s) else {
        return;
    };
    let rfc = dn.to_rfc4514();
    assert!(
        rfc.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "RFC 4514 output is not printable ASCII: {rfc:?}"
    );
    for printed in [rfc.clone(), dn.to_rfc4514_utf8(), dn.to_slash()] {
        let again = Dn::parse(&printed)
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?} does not parse: {e}"));
        assert_eq!(
            again, dn,
            "{s:?} printed as {printed:?} parses to another DN"
        );
        assert_eq!(again.to_rfc4514(), rfc, "printing is not stable for {s:?}");
    }
});
