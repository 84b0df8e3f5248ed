//! certgate's own HTTP/1.1 server for plain requests (`src/server/own_h1.rs`,
//! `src/http/h1request.rs`), through the real binary, between a raw TLS client that decides
//! exactly how its bytes arrive (`support::raw_client`) and a raw upstream that records
//! exactly what it gets and answers exactly what it is told (`support::raw_upstream`).
//!
//! A plain request (a whole head, no body, allowed) is served by certgate's own server; the
//! same request with its head cut across two TLS writes is not whole when certgate first
//! looks, so hyper's server takes it. Which server took a request is read from certgate's
//! debug log (`request left to hyper's server`, with the client's address as `peer`), so a
//! test that means to compare the two cannot pass with one server serving both.

mod support;

use std::time::{Duration, Instant};

use support::raw_client::{Answer, RawConn};
use support::raw_upstream::*;
use support::*;

/// certgate's log level: info, and the own server's debug lines (which requests it left to
/// hyper's server, and why).
const LOG_LEVEL: (&str, &str) = ("RUST_LOG", "info,certgate::server::own_h1=debug");

/// The debug line of a request the own server left to hyper's server.
const LEFT_TO_HYPER: &str = "request left to hyper's server";

/// How long a split head waits between its two TLS writes.
const SPLIT_PAUSE: Duration = Duration::from_millis(100);

struct Setup {
    pki: Pki,
    leaf: Leaf,
    up: RawUpstream,
    cg: Certgate,
    /// Requests `settle` has sent.
    settled: std::sync::atomic::AtomicUsize,
}

/// Flags of every setup: one route `/hooks` (any verified client), a renamed identity
/// header, an extra stripped header and XFCC, so certgate's namespace has every kind of
/// name in it.
fn base_flags(pki: &Pki, upstream: &str, upstream_timeout: &str) -> Vec<String> {
    let mut args = pki.base_args();
    let i = args.iter().position(|a| a == "--admin-listen").unwrap();
    args[i + 1] = "127.0.0.1:0".into();
    for a in [
        "--upstream",
        upstream,
        "--route",
        "hooks=/hooks",
        "--allow",
        "hooks=any",
        "--identity-header",
        "subject=X-SSL-Client-S-DN",
        "--strip-header",
        "X-Legacy-Auth",
        "--xfcc",
        "--upstream-timeout",
        upstream_timeout,
    ] {
        args.push(a.to_string());
    }
    args
}

impl Setup {
    async fn new(script: Vec<Reply>, extra: &[&str]) -> Setup {
        Self::with_timeout(script, "5s", extra).await
    }

    async fn with_timeout(script: Vec<Reply>, upstream_timeout: &str, extra: &[&str]) -> Setup {
        let pki = Pki::new();
        let leaf = pki.client(
            "sender",
            ClientSpec::new()
                .o("Acme")
                .cn("sender")
                .san_dns("sender.example"),
        );
        let up = RawUpstream::start(script).await;
        let mut args = base_flags(&pki, &up.url, upstream_timeout);
        args.extend(extra.iter().map(|a| a.to_string()));
        let cg = Certgate::start_args(&args, &[LOG_LEVEL]).await;
        Setup {
            pki,
            leaf,
            up,
            cg,
            settled: Default::default(),
        }
    }

    fn client(&self) -> Client {
        self.cg.client(&self.pki).cert(&self.leaf)
    }

    async fn conn(&self) -> RawConn {
        RawConn::open(&self.client()).await
    }

    /// The reasons certgate's own server gave for leaving requests of the connection from
    /// `peer` to hyper's server, once every line about the requests answered so far is in
    /// the log (see `settle`).
    async fn left_to_hyper(&self, peer: &RawConn) -> Vec<String> {
        self.settle().await;
        let me = [
            format!("peer={}", peer.local),
            format!("\"peer\":\"{}\"", peer.local),
        ];
        self.cg
            .logs()
            .into_iter()
            .filter(|l| l.contains(LEFT_TO_HYPER) && me.iter().any(|m| l.contains(m)))
            .collect()
    }

    /// Waits until the log holds every line certgate wrote before now: a request sent now
    /// (refused, so nothing reaches the upstream) has its access line after them.
    async fn settle(&self) {
        let n = self
            .settled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rid = format!("settle-{n}");
        let mut c = self.conn().await;
        c.send(
            format!("GET /settle HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: {rid}\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(c.answer(false).await.status, 404);
        self.cg.wait_for_log(&rid).await;
    }

    /// Every request head the upstream received, over all its connections, in order of
    /// the connections.
    fn heads(&self) -> Vec<String> {
        self.up.conns().into_iter().flat_map(|c| c.heads).collect()
    }

    /// Request lines in the order the upstream received them.
    fn request_lines(&self) -> Vec<String> {
        self.up.arrivals()
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// `a` and `b` line by line, for a failure message.
fn line_diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split("\r\n").collect(), b.split("\r\n").collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        let mark = if x == y { "  " } else { "!=" };
        out.push_str(&format!("{mark} {x:?} | {y:?}\n"));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parity: the own server forwards what hyper's pipeline forwards
// ---------------------------------------------------------------------------------------

/// A request with everything the head writer treats specially: certgate's namespace in
/// several spellings (prefix, renamed identity field, --strip-header, XFCC,
/// X-Signature-Verified, forwarding fields with `_`), client forwarding fields,
/// hop-by-hop fields and one the Connection field names, a dot segment, percent-encoding,
/// a query, and `Content-Length: 0`.
const TRICKY: &str = "GET /hooks/x/../a%20b/%7euser?q=1&r=%41 HTTP/1.1\r\n\
    Host: localhost\r\n\
    X-Request-Id: parity-1\r\n\
    X-App-One: 1\r\n\
    x-app-TWO: Two words\r\n\
    X-Client-Cert-Subject: CN=spoofed\r\n\
    X_Client_Cert_Fingerprint: spoofed\r\n\
    x-client-cert-SERIAL: spoofed\r\n\
    X-SSL-Client-S-DN: CN=spoofed\r\n\
    X_SSL_Client_S_DN: CN=spoofed\r\n\
    X-Legacy-Auth: spoofed\r\n\
    x_legacy_auth: spoofed\r\n\
    X-Forwarded-Client-Cert: Hash=spoofed\r\n\
    X-Signature-Verified: spoofed\r\n\
    X_Forwarded_For: 192.0.2.66\r\n\
    x_request_id: spoofed\r\n\
    X-Forwarded-For: 203.0.113.7\r\n\
    X-Forwarded-Proto: http\r\n\
    Forwarded: for=192.0.2.66\r\n\
    X-Real-IP: 192.0.2.66\r\n\
    Connection: keep-alive, X-Secret\r\n\
    X-Secret: spoofed\r\n\
    Keep-Alive: timeout=5\r\n\
    TE: trailers\r\n\
    Proxy-Authorization: Basic c3Bvb2ZlZA==\r\n\
    Content-Length: 0\r\n\
    Accept: */*\r\n\
    \r\n";

/// `request` sent whole on one connection (certgate's own server) and with its head cut
/// at `cut` across two TLS writes 100 ms apart on another (hyper's server): both answers,
/// and the two heads the upstream got, own first. Panics unless each went to the server
/// it was meant for.
async fn both_ways(t: &Setup, request: &str, cut: &str) -> ([Answer; 2], [String; 2]) {
    let before = t.heads().len();
    let mut whole = t.conn().await;
    whole.send(request.as_bytes()).await;
    let a = whole.answer(false).await;
    let mut split = t.conn().await;
    let at = request.find(cut).unwrap();
    split.send_split(request.as_bytes(), at, SPLIT_PAUSE).await;
    let b = split.answer(false).await;

    assert_eq!(t.left_to_hyper(&whole).await, Vec::<String>::new());
    let why = t.left_to_hyper(&split).await;
    assert!(
        why.len() == 1 && why[0].contains("head not complete"),
        "the split head must have gone to hyper's server: {why:?}"
    );
    let heads = t.heads();
    assert_eq!(heads.len(), before + 2, "{heads:#?}");
    ([a, b], [heads[before].clone(), heads[before + 1].clone()])
}

#[tokio::test]
async fn a_request_reaches_the_upstream_byte_for_byte_the_same_from_either_server() {
    let t = Setup::new(vec![ok("one"), ok("two")], &[]).await;
    let ([a, b], heads) = both_ways(&t, TRICKY, "X-Forwarded-For:").await;

    assert_eq!((a.status, a.body_str().as_str()), (200, "one"), "{a:?}");
    assert_eq!((b.status, b.body_str().as_str()), (200, "two"), "{b:?}");
    // The client gets the same answer head from both. The upstream sent no `Date`: each
    // server adds one (RFC 9110 §6.6.1), compared by presence (the second may turn).
    for x in [&a, &b] {
        assert_eq!(x.all("date").len(), 1, "{}", x.head);
    }
    let no_date = |a: &Answer| -> Vec<(String, String)> {
        let mut h: Vec<_> = a
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(no_date(&a), no_date(&b), "{}\n{}", a.head, b.head);

    assert_eq!(
        heads[0],
        heads[1],
        "the own server's head (left) and hyper's (right) differ:\n{}",
        line_diff(&heads[0], &heads[1])
    );

    // And that head is right (so the two do not agree on something wrong).
    let head = &heads[0];
    assert!(
        head.starts_with("GET /hooks/a%20b/~user?q=1&r=%41 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(!head.contains("spoofed"), "{head}");
    assert!(!head.contains("192.0.2.66"), "{head}");
    let lines = head_lines(head);
    let one = |name: &str| -> &str {
        let v = values(&lines, name);
        assert_eq!(v.len(), 1, "{name}: {v:?} in\n{head}");
        v[0]
    };
    assert_eq!(one("host"), "localhost");
    assert_eq!(one("x-app-one"), "1");
    assert_eq!(one("x-app-two"), "Two words");
    assert_eq!(one("accept"), "*/*");
    assert_eq!(one("x-request-id"), "parity-1");
    assert_eq!(one("x-forwarded-for"), "203.0.113.7, 127.0.0.1");
    assert_eq!(one("x-forwarded-proto"), "https");
    assert_eq!(one("content-length"), "0");
    assert_eq!(one("x-ssl-client-s-dn"), "CN=sender,O=Acme");
    assert_eq!(one("x-client-cert-fingerprint"), t.leaf.fingerprint());
    assert!(one("x-forwarded-client-cert").contains(&t.leaf.fingerprint()));
    for gone in [
        "connection",
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-secret",
        "x-legacy-auth",
        "x-signature-verified",
        "forwarded",
        "x-real-ip",
        "x-client-cert-subject",
        "transfer-encoding",
    ] {
        assert!(values(&lines, gone).is_empty(), "{gone} in\n{head}");
    }
    // Every name certgate writes is lowercase.
    for l in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap();
        assert_eq!(name, name.to_ascii_lowercase(), "{head}");
    }
}

/// `Connection` may name any field, also those a request cannot do without or that
/// certgate sets: each server must forward the same thing.
#[tokio::test]
async fn a_connection_field_naming_host_or_forwarding_fields_is_treated_alike_by_both_servers() {
    let t = Setup::new(vec![ok("1"), ok("2")], &[]).await;
    let request = "GET /hooks/named HTTP/1.1\r\nHost: localhost\r\n\
        Connection: Host, X-Forwarded-Proto, X-Request-Id, x_forwarded_for\r\n\
        X-Request-Id: named-1\r\nX-Forwarded-For: 203.0.113.7\r\nX-App: kept\r\n\r\n";
    let (_, heads) = both_ways(&t, request, "X-Request-Id:").await;
    assert_eq!(
        heads[0],
        heads[1],
        "the own server's head (left) and hyper's (right) differ:\n{}",
        line_diff(&heads[0], &heads[1])
    );
}

// ---------------------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn plain_then_a_post_with_a_body_then_plain_in_one_write_are_answered_in_order() {
    let t = Setup::new(vec![ok("p1"), ok("p2"), ok("p3"), ok("p4")], &[]).await;
    let mut c = t.conn().await;

    c.send(
        format!(
            "{}POST /hooks/p2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello{}",
            get("/hooks/p1"),
            get("/hooks/p3")
        )
        .as_bytes(),
    )
    .await;
    for want in ["p1", "p2", "p3"] {
        let a = c.answer(false).await;
        assert_eq!((a.status, a.body_str().as_str()), (200, want), "{a:?}");
    }
    // The connection carries on.
    c.send(get("/hooks/p4").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "p4");

    assert_eq!(
        t.request_lines(),
        [
            "GET /hooks/p1 HTTP/1.1",
            "POST /hooks/p2 HTTP/1.1",
            "GET /hooks/p3 HTTP/1.1",
            "GET /hooks/p4 HTTP/1.1"
        ]
    );
    // The POST's body went with it, exactly: its head, `hello`, then the next request or
    // nothing.
    let conns = t.up.conns();
    let raw = conns
        .iter()
        .map(|c| String::from_utf8_lossy(&c.raw).into_owned())
        .find(|r| r.contains("POST /hooks/p2"))
        .unwrap();
    let post = raw.find("POST /hooks/p2").unwrap();
    let body_at = post + raw[post..].find("\r\n\r\n").unwrap() + 4;
    let after = &raw[body_at..];
    assert!(after == "hello" || after.starts_with("helloGET "), "{raw}");
    // All three were the own server's: the POST's body was all there.
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

/// A webhook's POST: head and body (JSON) in one write.
fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Request-Id: post-1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// What the upstream got after the head of the request whose request line is `line`.
fn body_after(t: &Setup, line: &str) -> String {
    let raw =
        t.up.conns()
            .iter()
            .map(|c| String::from_utf8_lossy(&c.raw).into_owned())
            .find(|r| r.contains(line))
            .unwrap_or_else(|| panic!("no upstream connection got {line:?}"));
    let at = raw.find(line).unwrap();
    let body_at = at + raw[at..].find("\r\n\r\n").unwrap() + 4;
    raw[body_at..].to_string()
}

/// A POST whose body came with its head is the own server's, and reaches the upstream as
/// hyper's pipeline sends it: the same request line, the same fields with the same values
/// (hyper's client, streaming the body, orders them as its header map does), and the same
/// body. The POST whose head is cut across two writes is hyper's.
#[tokio::test]
async fn a_post_with_its_body_reaches_the_upstream_the_same_from_either_server() {
    let t = Setup::new(vec![ok("one"), ok("two")], &[]).await;
    let json = r#"{"event":"envelope-completed","id":"7f3c","items":[1,2,3]}"#;
    let request = post("/hooks/post", json);
    let ([a, b], heads) = both_ways(&t, &request, "Content-Type").await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "one"), "{a:?}");
    assert_eq!((b.status, b.body_str().as_str()), (200, "two"), "{b:?}");
    let sorted = |h: &str| {
        let mut l: Vec<String> = h.split("\r\n").map(str::to_string).collect();
        l[1..].sort();
        l
    };
    assert_eq!(
        sorted(&heads[0]),
        sorted(&heads[1]),
        "the own server's head (left) and hyper's (right) differ:\n{}",
        line_diff(&heads[0], &heads[1])
    );
    assert!(
        heads[0].contains(&format!("content-length: {}\r\n", json.len())),
        "{}",
        heads[0]
    );
    for conn in t.up.conns() {
        let raw = String::from_utf8_lossy(&conn.raw).into_owned();
        assert!(raw.ends_with(&format!("\r\n\r\n{json}")), "{raw}");
    }
}

/// A 10 KB body written with its head in one TLS record is past the first 2 KiB that a
/// parked connection reads, but already in the TLS stream: the own server reads the rest
/// without waiting and serves the request; the upstream gets the body whole.
#[tokio::test]
async fn a_post_whose_body_is_past_the_first_read_is_still_the_own_servers() {
    let t = Setup::new(vec![ok("big")], &[]).await;
    let json = format!(r#"{{"event":"big","pad":"{}"}}"#, "p".repeat(10_000));
    let mut c = t.conn().await;
    c.send(post("/hooks/big", &json).as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "big"), "{a:?}");
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
    assert_eq!(body_after(&t, "POST /hooks/big"), json);
}

/// A body whose end has not arrived when the head is read (the client wrote it later) is
/// not waited for by the own server: hyper's server takes the request and streams the
/// body, and the upstream gets it whole, once.
#[tokio::test]
async fn a_post_whose_body_comes_later_is_left_to_hyper_and_arrives_whole() {
    let t = Setup::new(vec![ok("late")], &[]).await;
    let json = r#"{"event":"late","pad":"0123456789abcdef"}"#;
    let request = post("/hooks/late", json);
    let mut c = t.conn().await;
    let at = request.find("\r\n\r\n").unwrap() + 4 + 10;
    c.send_split(request.as_bytes(), at, SPLIT_PAUSE).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "late"), "{a:?}");
    let why = t.left_to_hyper(&c).await;
    assert!(
        why.len() == 1 && why[0].contains("body still arriving"),
        "{why:?}"
    );
    assert_eq!(body_after(&t, "POST /hooks/late"), json);
    assert_eq!(t.request_lines(), ["POST /hooks/late HTTP/1.1"]);
}

/// A body that spells a request is a body: the upstream gets one POST carrying it, never
/// a second request, and the connection's next request is the one after the body.
#[tokio::test]
async fn a_body_that_looks_like_a_request_is_forwarded_as_the_body_of_its_post() {
    let t = Setup::new(vec![ok("post"), ok("next")], &[]).await;
    let smuggled = "GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut c = t.conn().await;
    c.send(format!("{}{}", post("/hooks/s", smuggled), get("/hooks/next")).as_bytes())
        .await;
    for want in ["post", "next"] {
        let a = c.answer(false).await;
        assert_eq!((a.status, a.body_str().as_str()), (200, want), "{a:?}");
    }
    assert_eq!(
        t.request_lines(),
        ["POST /hooks/s HTTP/1.1", "GET /hooks/next HTTP/1.1"]
    );
    let after = body_after(&t, "POST /hooks/s");
    assert!(after.starts_with(smuggled), "{after}");
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

#[tokio::test]
async fn plain_then_refused_then_plain_in_one_write_are_answered_in_order() {
    let t = Setup::new(
        vec![ok("a"), ok("b"), ok("c")],
        &["--route", "closed=/closed", "--allow", "closed=cn:nobody"],
    )
    .await;
    let mut c = t.conn().await;

    c.send(
        [
            get("/hooks/a"),
            get("/nowhere"),
            get("/hooks/b"),
            get("/closed/x"),
            get("/hooks/c"),
        ]
        .concat()
        .as_bytes(),
    )
    .await;
    let got: Vec<(u16, String)> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            let a = c.answer(false).await;
            v.push((a.status, a.body_str()));
        }
        v
    };
    assert_eq!(got[0], (200, "a".to_string()));
    assert_eq!(got[1].0, 404, "{got:?}");
    assert_eq!(got[2], (200, "b".to_string()));
    assert_eq!(got[3].0, 403, "{got:?}");
    assert_eq!(got[4], (200, "c".to_string()));
    assert_eq!(
        t.request_lines(),
        [
            "GET /hooks/a HTTP/1.1",
            "GET /hooks/b HTTP/1.1",
            "GET /hooks/c HTTP/1.1"
        ],
        "only the allowed requests, in order"
    );
    let why = t.left_to_hyper(&c).await;
    assert!(why[0].contains("refused"), "{why:?}");
}

/// A refusal the own server would answer itself if it did not hand it over: each kind
/// alone on a fresh connection, with the answer hyper's pipeline gives, and nothing
/// upstream.
#[tokio::test]
async fn refused_requests_get_hyper_pipelines_answers_and_reach_nothing() {
    let t = Setup::new(
        vec![ok("after")],
        &[
            "--route",
            "closed=/closed",
            "--allow",
            "closed=cn:nobody",
            "--max-header-bytes",
            "1000",
            "--max-header-count",
            "10",
        ],
    )
    .await;
    let cases: Vec<(String, u16, &str)> = vec![
        (get("/nowhere"), 404, "refused"),
        (get("/closed/x"), 403, "refused"),
        (
            get("/hooks/%2e%2e/%2e%2e/etc"),
            400,
            "path does not normalise",
        ),
        (get("/hooks/a%2Fb"), 400, "path does not normalise"),
        (
            format!(
                "GET /hooks/big HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1500)
            ),
            431,
            "over a header limit",
        ),
        (
            format!(
                "GET /hooks/many HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                (0..10).map(|i| format!("X-{i}: v\r\n")).collect::<String>()
            ),
            431,
            "over a header limit",
        ),
        (
            "GET /hooks/x HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n".into(),
            400,
            "not exactly one Host",
        ),
        (
            "GET /hooks/x HTTP/1.1\r\nHost: bad host\r\n\r\n".into(),
            400,
            "Host is not a valid",
        ),
    ];
    for (request, status, why) in &cases {
        let mut c = t.conn().await;
        c.send(request.as_bytes()).await;
        let a = c.answer(false).await;
        assert_eq!(a.status, *status, "{request:?}: {a:?}");
        // Too many fields: hyper's server answers 431 itself (its `max_headers`), bodiless.
        if !request.contains("/hooks/many") {
            assert!(
                a.body_str().contains("request-id:"),
                "generic body: {request:?}: {a:?}"
            );
        }
        let left = t.left_to_hyper(&c).await;
        assert!(
            left.len() == 1 && left[0].contains(why),
            "{request:?} must be left to hyper's server as {why:?}: {left:?}"
        );
    }
    t.up.assert_lines(&[]);
    // And an allowed request after all that.
    let mut c = t.conn().await;
    c.send(get("/hooks/after").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "after");
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

/// Heads that are whole but not plain: each goes to hyper's server, for the reason
/// `h1request::parse` gives, and is answered there.
#[tokio::test]
async fn heads_that_are_not_plain_are_left_to_hyper_for_their_reason() {
    let t = Setup::new((0..11).map(|_| ok("hyper")).collect(), &[]).await;
    let cases: &[(&str, &str)] = &[
        (
            "GET /hooks/a HTTP/1.0\r\nHost: localhost\r\n\r\n",
            "not HTTP/1.1",
        ),
        (
            "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n",
            "CONNECT",
        ),
        (
            "GET https://localhost/hooks/a HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "not an origin-form target",
        ),
        (
            "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "not an origin-form target",
        ),
        ("GET /hooks/a HTTP/1.1\r\n\r\n", "not exactly one Host"),
        (
            "GET /hooks/a HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n",
            "a body, an expectation or an upgrade",
        ),
        (
            "GET /hooks/a HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n",
            "a body, an expectation or an upgrade",
        ),
        (
            "GET /hooks/a HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\r\n",
            "Connection: close or upgrade",
        ),
        // Content-Length in any spelling but its canonical one, or over MAX_BODY.
        (
            "POST /hooks/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 05\r\n\r\nhello",
            "canonical",
        ),
        (
            "POST /hooks/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nhello",
            "canonical",
        ),
        (
            "POST /hooks/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 16385\r\n\r\n",
            "canonical",
        ),
    ];
    for (request, why) in cases {
        let mut c = t.conn().await;
        c.send(request.as_bytes()).await;
        // Answered (or closed) by hyper's server; what it answers is other tests' business.
        let _ = c.try_answer(request.starts_with("HEAD")).await;
        let left = t.left_to_hyper(&c).await;
        assert!(
            left.len() == 1 && left[0].contains(why),
            "{request:?} must be left to hyper's server as {why:?}: {left:?}"
        );
    }
}

/// An HTTP/1.0 client gets hyper's answer, which ends the connection (no keep-alive
/// asked for); the own server would answer HTTP/1.1 and keep it open.
#[tokio::test]
async fn an_http_1_0_request_is_answered_and_its_connection_ends() {
    let t = Setup::new(vec![ok("old")], &[]).await;
    let mut c = t.conn().await;
    c.send(b"GET /hooks/old HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await;
    let got = c
        .read_until_closed(Duration::from_secs(5))
        .await
        .expect("an HTTP/1.0 exchange without keep-alive ends the connection");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains(" 200 ") && text.ends_with("old"), "{text}");
    t.up.assert_lines(&[&["GET /hooks/old HTTP/1.1"]]);
}

/// A chunked request body is never read as requests: with `Transfer-Encoding` the head is
/// not plain, and hyper's pipeline forwards the body as the body. (A recording upstream:
/// the raw one reads request bodies by `Content-Length` only.)
#[tokio::test]
async fn a_chunked_body_that_looks_like_a_request_is_forwarded_as_the_body() {
    let pki = Pki::new();
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let up = Upstream::start().await;
    let cg = Certgate::start_args(&base_flags(&pki, &up.url, "5s"), &[LOG_LEVEL]).await;
    let inner = get("/hooks/smuggled");
    let request = format!(
        "POST /hooks/te HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{inner}\r\n0\r\n\r\n",
        inner.len()
    );
    let mut c = RawConn::open(&cg.client(&pki).cert(&leaf)).await;
    c.send(request.as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "upstream-ok");
    // No second answer comes from the body.
    assert!(
        c.read_until_closed(Duration::from_millis(500))
            .await
            .is_none_or(|b| b.is_empty()),
        "a second answer"
    );
    let r = up.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hooks/te"));
    assert_eq!(r.body, inner.as_bytes(), "the body, as the body");
}

/// Two equal `Content-Length: 0` fields are not plain: hyper's server merges them into one
/// (RFC 9110 §8.6 allows it; see attack_http.rs), and the upstream gets one.
#[tokio::test]
async fn equal_content_lengths_are_left_to_hyper_and_reach_the_upstream_once() {
    let t = Setup::new(vec![ok("merged")], &[]).await;
    let mut c = t.conn().await;
    c.send(b"GET /hooks/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n")
        .await;
    assert_eq!(c.answer(false).await.body_str(), "merged");
    let why = t.left_to_hyper(&c).await;
    assert!(
        why.len() == 1 && why[0].contains("more than one Content-Length"),
        "{why:?}"
    );
    let heads = t.heads();
    assert_eq!(
        values(&head_lines(&heads[0]), "content-length"),
        ["0"],
        "{}",
        heads[0]
    );
}

/// A `--verify` route's request is hyper's pipeline's, whole head and no body or not: an
/// unsigned one is refused, a signed one forwarded with `X-Signature-Verified`.
#[tokio::test]
async fn requests_on_a_verify_route_are_left_to_hyper_and_checked() {
    const SECRET: &[u8] = b"own-server-secret";
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("gh.key");
    std::fs::write(&key, SECRET).unwrap();
    let t = Setup::new(
        vec![ok("signed")],
        &[
            "--route",
            "signed=/signed",
            "--allow",
            "signed=any",
            "--verify",
            "signed=github",
            "--verify-key",
            &format!("signed={}", s(&key)),
        ],
    )
    .await;

    let mut unsigned = t.conn().await;
    unsigned.send(get("/signed/a").as_bytes()).await;
    let a = unsigned.answer(false).await;
    assert_eq!(a.status, 401, "{a:?}");
    let why = t.left_to_hyper(&unsigned).await;
    assert!(
        why.len() == 1 && why[0].contains("--verify route"),
        "{why:?}"
    );
    t.up.assert_lines(&[]);

    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let sig = hex(aws_lc_rs::hmac::sign(&key, b"").as_ref());
    let mut signed = t.conn().await;
    signed
        .send(
            format!(
                "GET /signed/b HTTP/1.1\r\nHost: localhost\r\nX-Hub-Signature-256: sha256={sig}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    let b = signed.answer(false).await;
    assert_eq!((b.status, b.body_str().as_str()), (200, "signed"), "{b:?}");
    assert_eq!(t.left_to_hyper(&signed).await.len(), 1);
    let heads = t.heads();
    assert_eq!(
        values(&head_lines(&heads[0]), "x-signature-verified"),
        ["github; key=gh"],
        "{}",
        heads[0]
    );
}

// ---------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_field_named_in_connection_never_reaches_the_upstream_and_connection_close_closes() {
    let t = Setup::new(vec![ok("a"), ok("b")], &[]).await;
    let mut c = t.conn().await;

    c.send(
        b"GET /hooks/a HTTP/1.1\r\nHost: localhost\r\nConnection: x-secret, , X_Other\r\n\
          X-Secret: 1\r\nx_secret: 2\r\nX-Other: 3\r\nX-Kept: yes\r\n\r\n",
    )
    .await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "a"));
    assert_eq!(
        t.left_to_hyper(&c).await,
        Vec::<String>::new(),
        "the own server's"
    );

    c.send(b"GET /hooks/b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    let b = c.answer(false).await;
    assert_eq!((b.status, b.body_str().as_str()), (200, "b"));
    let rest = c
        .read_until_closed(Duration::from_secs(5))
        .await
        .expect("Connection: close ends the connection after the answer");
    assert!(rest.is_empty(), "{rest:?}");

    let heads = t.heads();
    assert_eq!(heads.len(), 2, "{heads:#?}");
    let first = head_lines(&heads[0]);
    assert_eq!(values(&first, "x-kept"), ["yes"], "{}", heads[0]);
    for gone in ["x-secret", "x-other", "connection"] {
        assert!(values(&first, gone).is_empty(), "{gone} in {}", heads[0]);
    }
    assert!(
        values(&head_lines(&heads[1]), "connection").is_empty(),
        "{}",
        heads[1]
    );
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_answer_keeps_its_length_has_no_body_and_the_connection_goes_on() {
    let t = Setup::new(
        vec![
            Reply::bytes(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n",
            ),
            ok("after"),
        ],
        &[],
    )
    .await;
    let mut c = t.conn().await;

    c.send(b"HEAD /hooks/h HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let a = c.answer(true).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.header("content-length"), Some("1234"), "{}", a.head);
    assert_eq!(a.header("transfer-encoding"), None, "{}", a.head);
    assert_eq!(a.header("content-type"), Some("text/plain"));
    // No body bytes: the next answer on the connection starts right after the head.
    c.send(get("/hooks/next").as_bytes()).await;
    let b = c.answer(false).await;
    assert_eq!((b.status, b.body_str().as_str()), (200, "after"), "{b:?}");

    t.up.assert_lines(&[&["HEAD /hooks/h HTTP/1.1", "GET /hooks/next HTTP/1.1"]]);
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

#[tokio::test]
async fn answers_204_and_304_have_no_body_and_the_connection_goes_on() {
    let t = Setup::new(
        vec![
            Reply::bytes("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
            Reply::bytes("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 99\r\n\r\n"),
            ok("after"),
        ],
        &[],
    )
    .await;
    let mut c = t.conn().await;

    c.send(get("/hooks/204").as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(a.header("x-a"), Some("1"));
    assert_eq!(a.header("content-length"), None, "{}", a.head);
    assert_eq!(a.header("transfer-encoding"), None, "{}", a.head);

    c.send(b"GET /hooks/304 HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"v1\"\r\n\r\n")
        .await;
    let b = c.answer(false).await;
    assert_eq!(b.status, 304, "{b:?}");
    assert_eq!(b.header("etag"), Some("\"v1\""));
    // A 304's length is the representation's: passed on, with no body.
    assert_eq!(b.header("content-length"), Some("99"), "{}", b.head);
    assert_eq!(b.header("transfer-encoding"), None, "{}", b.head);

    c.send(get("/hooks/next").as_bytes()).await;
    let n = c.answer(false).await;
    assert_eq!((n.status, n.body_str().as_str()), (200, "after"), "{n:?}");

    t.up.assert_lines(&[&[
        "GET /hooks/204 HTTP/1.1",
        "GET /hooks/304 HTTP/1.1",
        "GET /hooks/next HTTP/1.1",
    ]]);
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_content_length_answer_loses_its_hop_by_hop_fields_and_keeps_the_rest() {
    let t = Setup::new(
        vec![
            Reply::bytes(
                "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Up: 1\r\nConnection: keep-alive, X-Hop\r\n\
                 X-Hop: secret\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello world",
            ),
            ok("after"),
        ],
        &[],
    )
    .await;
    let mut c = t.conn().await;

    c.send(get("/hooks/a").as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "hello world"));
    assert_eq!(a.header("content-length"), Some("11"), "{}", a.head);
    assert_eq!(a.header("x-up"), Some("1"));
    assert_eq!(a.all("set-cookie"), ["a=1", "b=2"], "{}", a.head);
    for gone in ["connection", "keep-alive", "x-hop", "transfer-encoding"] {
        assert_eq!(a.header(gone), None, "{gone} in {}", a.head);
    }
    assert!(a.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", a.head);
    c.send(get("/hooks/b").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "after");
    t.up.assert_lines(&[&["GET /hooks/a HTTP/1.1", "GET /hooks/b HTTP/1.1"]]);
}

/// A chunked answer, cut inside the size line, the data and the trailers, with pauses far
/// longer than the 2 ms certgate waits to learn a body's length.
fn chunked_in_pieces() -> Reply {
    Reply::pieces(
        &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5;na",
            b"me=\"val\"\r\nhel",
            b"lo\r\n6;x;y=1\r\n wor",
            b"ld\r\n0\r\nX-Checksum: ab",
            b"c\r\nX-Other: 1\r\n",
            b"\r\n",
        ],
        PAUSE,
    )
}

#[tokio::test]
async fn a_slow_chunked_answer_stays_chunked_and_arrives_whole() {
    let t = Setup::new(vec![chunked_in_pieces(), ok("after")], &[]).await;
    let mut c = t.conn().await;

    c.send(get("/hooks/chunked").as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "hello world"));
    assert!(a.chunked, "{}", a.head);
    assert_eq!(a.header("content-length"), None, "{}", a.head);
    assert_eq!(a.header("trailer"), None, "hop-by-hop: {}", a.head);
    c.send(get("/hooks/next").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "after");
    t.up.assert_lines(&[&["GET /hooks/chunked HTTP/1.1", "GET /hooks/next HTTP/1.1"]]);
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_chunked_answer_complete_at_once_gets_a_content_length() {
    let t = Setup::new(
        vec![Reply::bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )],
        &[],
    )
    .await;
    let mut c = t.conn().await;
    c.send(get("/hooks/fast").as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!((a.status, a.body_str().as_str()), (200, "hello world"));
    assert!(!a.chunked, "{}", a.head);
    assert_eq!(a.header("content-length"), Some("11"), "{}", a.head);
}

#[tokio::test]
async fn a_close_delimited_answer_reaches_the_client_as_a_whole_chunked_body() {
    let t = Setup::new(
        vec![
            Reply::pieces(
                &[
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil",
                    b" the upstream",
                    b" closes",
                ],
                PAUSE,
            )
            .then(After::Close),
            ok("after"),
        ],
        &[],
    )
    .await;
    let mut c = t.conn().await;

    c.send(get("/hooks/close").as_bytes()).await;
    let a = c.answer(false).await;
    assert_eq!(
        (a.status, a.body_str().as_str()),
        (200, "until the upstream closes")
    );
    assert!(a.chunked, "the client can tell the end: {}", a.head);
    // The client's connection is not the upstream's: it goes on.
    c.send(get("/hooks/next").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "after");
    t.up.assert_lines(&[
        &["GET /hooks/close HTTP/1.1"],
        &["GET /hooks/next HTTP/1.1"],
    ]);
}

async fn a_cut_body_is_not_passed_off_as_complete(short: Reply) {
    let t = Setup::new(vec![short, ok("after")], &[]).await;
    let mut c = t.conn().await;

    c.send(get("/hooks/short").as_bytes()).await;
    let cut = match c.try_answer(false).await {
        Ok(a) => panic!("a complete-looking answer: {a:?}"),
        Err(cut) => cut,
    };
    assert_incomplete(&RawResponse {
        bytes: cut.bytes,
        closed: cut.closed,
    });
    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
    // certgate serves on.
    let mut next = t.conn().await;
    next.send(get("/hooks/next").as_bytes()).await;
    assert_eq!(next.answer(false).await.body_str(), "after");
    t.up.assert_lines(&[
        &["GET /hooks/short HTTP/1.1"],
        &["GET /hooks/next HTTP/1.1"],
    ]);
}

#[tokio::test]
async fn a_body_shorter_than_its_length_is_cut_for_the_client() {
    a_cut_body_is_not_passed_off_as_complete(
        Reply::bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello").then(After::Close),
    )
    .await;
}

#[tokio::test]
async fn a_body_cut_after_the_head_went_out_is_cut_for_the_client() {
    a_cut_body_is_not_passed_off_as_complete(
        Reply::pieces(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", b"lo"],
            Duration::from_millis(50),
        )
        .then(After::Close),
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_cut_by_close_is_cut_for_the_client() {
    a_cut_body_is_not_passed_off_as_complete(
        Reply::pieces(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                b"6\r\n wor",
            ],
            Duration::from_millis(50),
        )
        .then(After::Close),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Upstream failures
// ---------------------------------------------------------------------------------------

fn assert_generic(a: &Answer, status: u16, reason: &str, rid: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(
        a.body_str(),
        format!("{status} {reason}\nrequest-id: {rid}\n"),
        "{a:?}"
    );
    assert_eq!(a.header("x-request-id"), Some(rid), "{}", a.head);
    assert_eq!(
        a.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{}",
        a.head
    );
}

#[tokio::test]
async fn an_upstream_that_is_down_or_slow_gets_502_or_504_and_the_connection_goes_on() {
    let down = closed_port_url().await;
    let slow = Upstream::start_with(UpstreamBehaviour {
        delay: Duration::from_secs(4),
        ..UpstreamBehaviour::default()
    })
    .await;
    let t = Setup::with_timeout(
        vec![ok("fine"), ok("fine again")],
        "1s",
        &[
            "--route",
            "down=/down",
            "--allow",
            "down=any",
            "--route-upstream",
            &format!("down={down}"),
            "--route",
            "slow=/slow",
            "--allow",
            "slow=any",
            "--route-upstream",
            &format!("slow={}", slow.url),
        ],
    )
    .await;
    let mut c = t.conn().await;

    c.send(b"GET /down/x HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: down-1\r\n\r\n")
        .await;
    assert_generic(&c.answer(false).await, 502, "Bad Gateway", "down-1");
    c.send(get("/hooks/a").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "fine");

    let t0 = Instant::now();
    c.send(b"GET /slow/x HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: slow-1\r\n\r\n")
        .await;
    assert_generic(&c.answer(false).await, 504, "Gateway Timeout", "slow-1");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "504 after --upstream-timeout, not after the upstream: {:?}",
        t0.elapsed()
    );
    c.send(get("/hooks/b").as_bytes()).await;
    assert_eq!(c.answer(false).await.body_str(), "fine again");

    assert_eq!(t.left_to_hyper(&c).await, Vec::<String>::new());
    assert_eq!(
        t.request_lines(),
        ["GET /hooks/a HTTP/1.1", "GET /hooks/b HTTP/1.1"]
    );
    assert_eq!(slow.paths(), ["/slow/x"]);
}

// ---------------------------------------------------------------------------------------
// A client that stops reading
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_within_the_send_timeout_and_others_are_served() {
    const BIG: usize = 32 * 1024 * 1024;
    let mut big = format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
    big.resize(big.len() + BIG, b'x');
    let t = Setup::new(
        vec![Reply::bytes(big), ok("small")],
        &["--send-timeout", "1s"],
    )
    .await;

    let mut stalled = t.conn().await;
    stalled.send(get("/hooks/big").as_bytes()).await;
    let t0 = Instant::now();
    eventually(
        "the /big request to reach the upstream",
        CLIENT_TIMEOUT,
        || async { t.heads().len() == 1 },
    )
    .await;

    // Another client is served meanwhile.
    let mut other = t.conn().await;
    other.send(get("/hooks/small").as_bytes()).await;
    assert_eq!(other.answer(false).await.body_str(), "small");

    // certgate gives up on the stalled client: within the send timeout of the socket
    // filling up (plus the clock's tick and a loaded machine's slack).
    t.cg.wait_for_log("send timeout: the client took nothing")
        .await;
    let after = t0.elapsed();
    assert!(after < Duration::from_secs(6), "closed after {after:?}");
    let got = stalled
        .read_until_closed(Duration::from_secs(10))
        .await
        .expect("the stalled client's connection is closed");
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "the head came first"
    );
    assert!(got.len() < BIG, "the whole body arrived: nothing was cut");
    // The upstream connection that fed it is closed too.
    t.up.wait_closed_by_certgate(0).await;
    assert_eq!(
        t.request_lines(),
        ["GET /hooks/big HTTP/1.1", "GET /hooks/small HTTP/1.1"]
    );
    assert_eq!(t.left_to_hyper(&stalled).await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Access log and metrics
// ---------------------------------------------------------------------------------------

/// The `fields` of the JSON access line of request `rid`.
async fn access_line(cg: &Certgate, rid: &str) -> serde_json::Map<String, serde_json::Value> {
    let want = format!("\"request_id\":\"{rid}\"");
    let line = cg
        .wait_for_log_where(&format!("the access line of {rid}"), |l| {
            l.contains(&want) && l.contains("\"message\":\"request\"")
        })
        .await;
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    v["fields"].as_object().expect("fields").clone()
}

#[tokio::test]
async fn the_own_server_logs_and_counts_a_request_as_hyper_pipeline_does() {
    let t = Setup::new(vec![ok("own"), ok("hyper")], &["--log-format", "json"]).await;
    let admin = t.cg.admin_addr().await;
    let request = |rid: &str| {
        format!("GET /hooks/logged HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: {rid}\r\n\r\n")
    };
    let count = || async {
        let (_, text) = http_get(admin, "/metrics").await.expect("metrics");
        let labels = [
            ("route", "hooks"),
            ("decision", "allowed"),
            ("status", "200"),
        ];
        (
            metric_value(&text, "certgate_requests_total", &labels),
            metric_value(
                &text,
                "certgate_request_duration_seconds_count",
                &[("route", "hooks")],
            ),
        )
    };

    let mut own = t.conn().await;
    own.send(request("log-own").as_bytes()).await;
    assert_eq!(own.answer(false).await.body_str(), "own");
    let own_line = access_line(&t.cg, "log-own").await;
    assert_eq!(count().await, (Some(1.0), Some(1.0)));

    let mut hyper = t.conn().await;
    hyper
        .send_split(request("log-hyper").as_bytes(), 20, SPLIT_PAUSE)
        .await;
    assert_eq!(hyper.answer(false).await.body_str(), "hyper");
    let hyper_line = access_line(&t.cg, "log-hyper").await;
    assert_eq!(count().await, (Some(2.0), Some(2.0)));

    let none: &[String] = &[];
    assert_eq!(
        t.left_to_hyper(&own).await,
        none,
        "the first was the own server's"
    );
    assert_eq!(t.left_to_hyper(&hyper).await.len(), 1);

    for (name, want) in [
        ("route", serde_json::json!("hooks")),
        ("decision", serde_json::json!("allowed")),
        ("status", serde_json::json!(200)),
        ("method", serde_json::json!("GET")),
        ("subject", serde_json::json!("CN=sender,O=Acme")),
        ("fingerprint", serde_json::json!(t.leaf.fingerprint())),
        ("upstream_status", serde_json::json!(200)),
    ] {
        assert_eq!(own_line.get(name), Some(&want), "own: {name}: {own_line:?}");
        assert_eq!(
            hyper_line.get(name),
            Some(&want),
            "hyper: {name}: {hyper_line:?}"
        );
    }
    let keys = |m: &serde_json::Map<String, serde_json::Value>| {
        let mut k: Vec<String> = m.keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&own_line), keys(&hyper_line), "the same fields");
}
