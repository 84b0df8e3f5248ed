//! certgate's own HTTP/1.1 client on the upstream hop (`src/http/h1wire.rs`,
//! `src/http/h1client.rs`), through the real binary. A raw upstream
//! (`support::raw_upstream`) writes exactly the answer bytes each test scripts and records
//! exactly the request bytes it gets, per connection, so each test checks both what the
//! client got and what the upstream saw (and on which connection: reuse is counted, not
//! assumed).

mod support;

use std::time::Duration;

use support::raw_upstream::*;
use support::*;

// ---------------------------------------------------------------------------------------
// certgate in front of it
// ---------------------------------------------------------------------------------------

struct Setup {
    pki: Pki,
    leaf: Leaf,
    up: RawUpstream,
    cg: Certgate,
}

impl Setup {
    /// certgate with one route `/hooks` (any verified client) to a raw upstream that
    /// answers with `script`.
    async fn new(script: Vec<Reply>) -> Setup {
        let pki = Pki::new();
        let leaf = pki.client(
            "sender",
            ClientSpec::new()
                .o("Acme")
                .cn("sender")
                .san_dns("sender.example"),
        );
        let up = RawUpstream::start(script).await;
        // A short upstream timeout keeps a test whose check was broken from hanging.
        let cg = Certgate::start(
            &pki,
            &up.url,
            &[
                "--route",
                "hooks=/hooks",
                "--allow",
                "hooks=any",
                "--upstream-timeout",
                "5s",
            ],
        )
        .await;
        Setup { pki, leaf, up, cg }
    }

    fn client(&self) -> Client {
        self.cg.client(&self.pki).cert(&self.leaf)
    }

    async fn conn(&self) -> support::Conn {
        self.client().connect().await.expect("connect to certgate")
    }

    async fn curl(&self, path: &str) -> CurlOutput {
        curl(
            &self.pki,
            self.cg.addr,
            path,
            Some(&self.leaf),
            &["--http1.1"],
        )
        .await
    }

    async fn raw(&self, request: &str) -> RawResponse {
        raw_request(&self.client(), request.as_bytes(), CLIENT_TIMEOUT).await
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1")
}

// ---------------------------------------------------------------------------------------
// Answer framings, and when a connection is reused
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_content_length_answer_reaches_the_client_and_its_connection_is_reused() {
    let t = Setup::new(vec![
        Reply::bytes(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
        ),
        ok("second"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/a").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello world"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = conn.get("/hooks/b").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "second"));

    t.up.assert_lines(&[&[&get("/hooks/a"), &get("/hooks/b")]]);
}

/// A chunked answer with chunk extensions and trailers, cut inside the size line, the data
/// and the trailers.
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
async fn a_chunked_answer_with_extensions_and_trailers_in_pieces_reaches_the_client_whole() {
    let t = Setup::new(vec![chunked_in_pieces(), ok("after")]).await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/chunked").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello world"));
    // Trailers are dropped, never turned into header fields.
    assert_eq!(r.header("x-checksum"), None, "{:?}", r.headers);
    // The decoded body ended where the upstream's did: the connection is fit for more.
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/chunked"), &get("/hooks/next")]]);
}

#[tokio::test]
async fn curl_gets_a_chunked_answer_whole() {
    let t = Setup::new(vec![chunked_in_pieces(), ok("after")]).await;

    let out = t.curl("/hooks/chunked").await;
    assert_eq!(
        (out.status, out.body.as_str()),
        (200, "hello world"),
        "{out:?}"
    );
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    let out = t.curl("/hooks/next").await;
    assert_eq!((out.status, out.body.as_str()), (200, "after"), "{out:?}");

    t.up.assert_lines(&[&[&get("/hooks/chunked"), &get("/hooks/next")]]);
}

/// An answer with neither length nor chunking: its body ends when the upstream closes.
fn close_delimited() -> Reply {
    Reply::pieces(
        &[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil",
            b" the upstream",
            b" closes",
        ],
        PAUSE,
    )
    .then(After::Close)
}

#[tokio::test]
async fn a_close_delimited_answer_reaches_the_client_whole_and_the_next_request_opens_a_connection()
{
    let t = Setup::new(vec![close_delimited(), ok("after")]).await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/close").await.unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "until the upstream closes")
    );
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/close")], &[&get("/hooks/next")]]);
}

#[tokio::test]
async fn curl_gets_a_close_delimited_answer_whole() {
    let t = Setup::new(vec![close_delimited(), ok("after")]).await;

    let out = t.curl("/hooks/close").await;
    assert_eq!(
        (out.status, out.body.as_str()),
        (200, "until the upstream closes"),
        "{out:?}"
    );
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    let out = t.curl("/hooks/next").await;
    assert_eq!((out.status, out.body.as_str()), (200, "after"), "{out:?}");

    t.up.assert_lines(&[&[&get("/hooks/close")], &[&get("/hooks/next")]]);
}

/// `reply` keeps the upstream's socket open, yet it must not carry a second request.
async fn answer_is_not_reused(reply: Reply, body: &str) {
    let t = Setup::new(vec![reply, ok("after")]).await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/first").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, body));
    // Hop-by-hop: the client's connection has its own keep-alive.
    assert_eq!(r.header("connection"), None);
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/first")], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

#[tokio::test]
async fn an_http_1_0_answer_without_keep_alive_is_not_reused() {
    answer_is_not_reused(
        Reply::bytes("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!"),
        "old!",
    )
    .await;
}

#[tokio::test]
async fn a_connection_close_answer_is_not_reused() {
    answer_is_not_reused(
        Reply::bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye"),
        "bye",
    )
    .await;
}

#[tokio::test]
async fn an_http_1_0_answer_with_connection_keep_alive_is_reused() {
    let t = Setup::new(vec![
        Reply::bytes("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 4\r\n\r\nold!"),
        Reply::bytes("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nagain"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/first").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "old!"));
    assert_eq!(
        r.version,
        hyper::Version::HTTP_11,
        "the client's own version"
    );
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "again"));

    t.up.assert_lines(&[&[&get("/hooks/first"), &get("/hooks/next")]]);
}

// ---------------------------------------------------------------------------------------
// Interim answers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn interim_100_and_103_answers_are_skipped_and_the_final_answer_reaches_the_client() {
    let t = Setup::new(vec![
        Reply::pieces(
            &[
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 1",
                b"03 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
            ],
            PAUSE,
        ),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/interim").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "final"));
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/interim"), &get("/hooks/next")]]);
}

// ---------------------------------------------------------------------------------------
// 3. Answers certgate refuses: 502, and the connection is not used again
// ---------------------------------------------------------------------------------------

/// `bad` (the upstream keeps its socket open after it) gives the client 502 and the log line;
/// the connection is closed, and the next request goes out on a fresh one and succeeds.
/// Each `bad` is built so that, were its check missing, the client would not get a 502
/// (mostly: the 200 that follows or stands behind the bad part).
async fn refused_with_502_and_not_reused(bad: Reply) {
    let t = Setup::new(vec![bad, ok("after")]).await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/bad").await.unwrap();
    assert_eq!(r.status, 502, "{}", r.body_str());
    assert!(
        r.body_str().starts_with("502 Bad Gateway"),
        "{}",
        r.body_str()
    );
    let line = t.cg.wait_for_log("upstream reset or failed").await;
    assert!(line.contains("502"), "{line}");
    // The same client connection goes on; the upstream connection does not.
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/bad")], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

#[tokio::test]
async fn a_garbage_status_line_gives_502() {
    refused_with_502_and_not_reused(Reply::bytes(
        "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    ))
    .await;
}

#[tokio::test]
async fn a_non_http_answer_gives_502() {
    refused_with_502_and_not_reused(Reply::bytes("SSH-2.0-OpenSSH_9.2\r\n\r\n")).await;
}

#[tokio::test]
async fn conflicting_content_lengths_give_502() {
    refused_with_502_and_not_reused(Reply::bytes(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ))
    .await;
}

#[tokio::test]
async fn switching_protocols_gives_502() {
    // Were 101 taken for an interim answer, the 200 behind it would reach the client.
    refused_with_502_and_not_reused(Reply::bytes(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ))
    .await;
}

/// An answer head of `size` bytes (one long header line), then a 2-byte body.
fn head_of(size: usize) -> Vec<u8> {
    let start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: ";
    let end = b"\r\n\r\nok";
    let filler = size - start.len() - (end.len() - 2);
    [start.as_slice(), &vec![b'a'; filler], end].concat()
}

#[tokio::test]
async fn an_answer_head_over_400_kib_gives_502() {
    // One write: certgate reads it in whatever pieces the socket gives.
    refused_with_502_and_not_reused(Reply::bytes(head_of(600 * 1024))).await;
}

#[tokio::test]
async fn an_answer_head_over_400_kib_gives_502_however_it_arrives() {
    // 399 KiB, a pause (certgate reads it: incomplete, under the limit), then the last
    // 2 KiB with the end of the head: a 401 KiB head, complete within one read.
    let head = head_of(401 * 1024);
    refused_with_502_and_not_reused(Reply::pieces(
        &[&head[..399 * 1024], &head[399 * 1024..]],
        Duration::from_millis(100),
    ))
    .await;
}

#[tokio::test]
async fn more_than_100_header_lines_give_502() {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\nok");
    refused_with_502_and_not_reused(Reply::bytes(head)).await;
}

#[tokio::test]
async fn exactly_100_header_lines_are_accepted() {
    // The other side of the limit above: 100 lines (Content-Length included) pass.
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
    for i in 0..99 {
        head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\nok");
    let t = Setup::new(vec![Reply::bytes(head)]).await;

    // Raw: certgate passes the 100 lines on and adds its own, past what hyper's client takes.
    let raw = t
        .raw("GET /hooks/many HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw.status(), Some(200), "{}", raw.text());
    assert!(raw.text().contains("\r\nx-h98: v\r\n"), "{}", raw.text());
    assert!(raw.text().ends_with("\r\n\r\nok"), "{}", raw.text());
    t.up.assert_lines(&[&[&get("/hooks/many")]]);
}

// ---------------------------------------------------------------------------------------
// Bodies that do not match their framing
// ---------------------------------------------------------------------------------------

async fn a_truncated_body_is_not_passed_off_as_complete(short: Reply) {
    let t = Setup::new(vec![
        short.clone(),
        short.clone(),
        short.clone(),
        short,
        ok("after"),
    ])
    .await;

    // A hyper client sees a broken answer, not a short one that looks whole.
    match t.client().get("/hooks/short1").await {
        Err(_) => {}
        Ok(r) => panic!("a complete-looking answer: {r:?}"),
    }
    // The bytes on the wire: the announced framing is not fulfilled, and the connection is cut.
    let raw = t
        .raw("GET /hooks/short2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert_incomplete(&raw);
    // curl reports a partial transfer.
    let out = t.curl("/hooks/short3").await;
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    // Over HTTP/2 the stream is reset rather than ended.
    match t.client().h2().get("/hooks/short4").await {
        Err(_) => {}
        Ok(r) => panic!("a complete-looking HTTP/2 answer: {r:?}"),
    }
    // certgate serves on, and says in its log why the answers were cut.
    let r = t.client().get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));
    t.cg.wait_for_log("upstream answer body broke off").await;

    t.up.assert_lines(&[
        &[&get("/hooks/short1")],
        &[&get("/hooks/short2")],
        &[&get("/hooks/short3")],
        &[&get("/hooks/short4")],
        &[&get("/hooks/next")],
    ]);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_then_close_is_not_passed_off_as_complete() {
    // All in one write: certgate learns of the cut before the client has anything.
    a_truncated_body_is_not_passed_off_as_complete(
        Reply::bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello").then(After::Close),
    )
    .await;
}

#[tokio::test]
async fn a_body_cut_after_the_client_has_the_head_is_not_passed_off_as_complete() {
    // The head and the first bytes are on their way to the client when the upstream closes.
    a_truncated_body_is_not_passed_off_as_complete(
        Reply::pieces(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", b"lo"],
            Duration::from_millis(50),
        )
        .then(After::Close),
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_cut_by_close_is_not_passed_off_as_complete() {
    a_truncated_body_is_not_passed_off_as_complete(
        Reply::pieces(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                b"6\r\n wo",
            ],
            Duration::from_millis(50),
        )
        .then(After::Close),
    )
    .await;
}

#[tokio::test]
async fn a_malformed_chunk_cuts_the_answer_and_its_connection() {
    // The upstream keeps its socket open: only the bad chunk size ends the exchange.
    a_truncated_body_is_not_passed_off_as_complete(Reply::pieces(
        &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"zz\r\nworld\r\n0\r\n\r\n",
        ],
        Duration::from_millis(50),
    ))
    .await;
}

/// A whole second answer, which the upstream was never asked for: if certgate kept the
/// connection, the next request would get it.
const SMUGGLED: &str = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

#[tokio::test]
async fn bytes_after_a_content_length_body_are_dropped_with_their_connection() {
    let t = Setup::new(vec![
        Reply::bytes(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello{SMUGGLED}"
        )),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/extra").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
    assert_eq!(r.header("content-length"), Some("5"));
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/extra")], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

#[tokio::test]
async fn bytes_arriving_after_a_finished_body_on_an_idle_connection_drop_it() {
    // The extra bytes come after certgate has read the body whole and pooled the
    // connection: the check when it is taken from the pool must see them.
    let t = Setup::new(vec![
        Reply::pieces(
            &[
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                SMUGGLED.as_bytes(),
            ],
            Duration::from_millis(50),
        ),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/extra").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
    t.up.wait_written(1).await;
    // For the bytes to reach certgate and its reactor to mark the socket readable.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/extra")], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

#[tokio::test]
async fn transfer_encoding_beats_content_length_and_the_connection_is_not_reused() {
    let t = Setup::new(vec![
        Reply::bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n",
        ),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.get("/hooks/both").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
    assert_ne!(r.header("content-length"), Some("100"), "{:?}", r.headers);
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[&get("/hooks/both")], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

// ---------------------------------------------------------------------------------------
// Idle connections the upstream closed
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_used_again() {
    let idle_close = |body: &str| ok(body).then(After::CloseIfIdleFor(Duration::from_millis(50)));
    let t = Setup::new(vec![
        idle_close("one"),
        idle_close("two"),
        idle_close("three"),
    ])
    .await;
    let client = t.client();

    for (i, body) in ["one", "two", "three"].into_iter().enumerate() {
        if i > 0 {
            // Longer than the upstream keeps an idle connection.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let r = client.get(&format!("/hooks/{i}")).await.unwrap();
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, body),
            "request {i}"
        );
    }

    // Each request reached the upstream once, each on a connection of its own.
    t.up.assert_lines(&[
        &[&get("/hooks/0")],
        &[&get("/hooks/1")],
        &[&get("/hooks/2")],
    ]);
    for (i, c) in t.up.conns().iter().enumerate() {
        assert_eq!(
            c.raw.as_slice(),
            c.heads[0].as_bytes(),
            "connection {i}: bytes beyond one request head"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Answers without a body: HEAD and 304
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_head_answer_with_a_content_length_has_no_body_and_its_connection_is_reused() {
    let t = Setup::new(vec![
        Reply::bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
        ok("hello"),
    ])
    .await;

    // Pipelined on one client connection: the GET's answer must follow the HEAD's head at
    // once, with no body bytes between them.
    let raw = t
        .raw(
            "HEAD /hooks/h HTTP/1.1\r\nHost: localhost\r\n\r\n\
             GET /hooks/g HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
    let text = raw.text();
    let end = text.find("\r\n\r\n").expect("a head") + 4;
    let (head, rest) = text.split_at(end);
    assert!(head.starts_with("HTTP/1.1 200 "), "{text}");
    assert_eq!(
        head_value(head, "content-length").as_deref(),
        Some("5"),
        "{text}"
    );
    assert!(
        rest.starts_with("HTTP/1.1 200 "),
        "body bytes after a HEAD answer: {text}"
    );
    assert!(rest.ends_with("\r\n\r\nhello"), "{text}");

    t.up.assert_lines(&[&["HEAD /hooks/h HTTP/1.1", &get("/hooks/g")]]);
}

#[tokio::test]
async fn a_304_with_a_content_length_has_no_body_and_its_connection_is_reused() {
    // RFC 9110 §8.6: a 304 may announce the length of the representation it stands for.
    let t = Setup::new(vec![
        Reply::bytes("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n"),
        ok("hello"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn
        .request("GET", "/hooks/cached", &[("if-none-match", "\"v1\"")], b"")
        .await
        .unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (304, ""));
    assert_eq!(r.header("etag"), Some("\"v1\""));
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));

    t.up.assert_lines(&[&[&get("/hooks/cached"), &get("/hooks/next")]]);
}

#[tokio::test]
async fn a_body_sent_in_answer_to_head_is_not_forwarded_and_its_connection_is_dropped() {
    // An upstream that answers HEAD as if it were GET: the five bytes are not an answer to
    // the next request.
    let t = Setup::new(vec![
        Reply::bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    let r = conn.request("HEAD", "/hooks/h", &[], b"").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, ""));
    assert_eq!(r.header("content-length"), Some("5"));
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&["HEAD /hooks/h HTTP/1.1"], &[&get("/hooks/next")]]);
    t.up.wait_closed_by_certgate(0).await;
}

// ---------------------------------------------------------------------------------------
// Bodies that take many reads, and HTTP/2 clients
// ---------------------------------------------------------------------------------------

/// `n` bytes that are not the same from one position to the next.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn large_content_length_and_chunked_bodies_arrive_intact() {
    // Larger than any one read and than what is read ahead before the head goes out, so the
    // body is read in many pieces and the read size grows.
    let body = pattern(3 * 1024 * 1024 + 17);
    let mut by_length =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    by_length.extend_from_slice(&body);
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(100_003) {
        chunked.extend_from_slice(format!("{:x};n=1\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let t = Setup::new(vec![
        Reply::bytes(by_length),
        Reply::bytes(chunked),
        ok("after"),
    ])
    .await;
    let mut conn = t.conn().await;

    for path in ["/hooks/length", "/hooks/chunked"] {
        let r = conn.get(path).await.unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body.len(), body.len(), "{path}");
        assert!(r.body == body, "{path}: body altered in transit");
    }
    let r = conn.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[&[
        &get("/hooks/length"),
        &get("/hooks/chunked"),
        &get("/hooks/next"),
    ]]);
}

#[tokio::test]
async fn an_http2_client_gets_chunked_and_close_delimited_answers_whole() {
    let t = Setup::new(vec![chunked_in_pieces(), close_delimited(), ok("after")]).await;
    let client = t.client().h2();

    let r = client.get("/hooks/chunked").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello world"));
    assert_eq!(r.version, hyper::Version::HTTP_2);
    let r = client.get("/hooks/close").await.unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "until the upstream closes")
    );
    let r = client.get("/hooks/next").await.unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "after"));

    t.up.assert_lines(&[
        &[&get("/hooks/chunked"), &get("/hooks/close")],
        &[&get("/hooks/next")],
    ]);
    let head = &t.up.conns()[0].heads[0];
    assert_eq!(
        head_value(head, "host"),
        Some(format!("localhost:{}", t.cg.addr.port())),
        "{head}"
    );
}

// ---------------------------------------------------------------------------------------
// What the upstream receives
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_upstream_gets_identity_and_forwarding_headers_once_and_no_framing_headers() {
    let t = Setup::new(vec![ok("one"), ok("two")]).await;

    let raw = t
        .raw(
            "GET /hooks/who?x=1 HTTP/1.1\r\nHost: localhost\r\n\
             X-Forwarded-For: 203.0.113.7\r\n\
             X-Forwarded-For: 198.51.100.2\r\n\
             X-Forwarded-Proto: http\r\n\
             X-Client-Cert-Subject: CN=spoofed\r\n\
             X_Client_Cert_Fingerprint: spoofed\r\n\
             X_Forwarded_For: spoofed\r\n\
             x_request_id: spoofed\r\n\
             X-Request-Id: test-req-12345\r\n\
             X-App: kept\r\n\r\n\
             GET /hooks/plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert!(raw.text().ends_with("\r\n\r\ntwo"), "{}", raw.text());

    let conns = t.up.conns();
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let heads = &conns[0].heads;
    assert_eq!(heads.len(), 2, "{heads:#?}");
    assert!(
        !String::from_utf8_lossy(&conns[0].raw).contains("spoofed"),
        "an inbound identity header (or a forwarding header spelled with `_`) reached the upstream: {}",
        heads[0]
    );
    for (k, head) in heads.iter().enumerate() {
        let lines = head_lines(head);
        let one = |name: &str| -> String {
            let v = values(&lines, name);
            assert_eq!(v.len(), 1, "request {k}: {name} {v:?} in\n{head}");
            v[0].to_string()
        };
        assert_eq!(one("x-client-cert-subject"), "CN=sender,O=Acme");
        assert_eq!(one("x-client-cert-issuer"), t.pki.ca.subject_rfc4514());
        assert_eq!(one("x-client-cert-fingerprint"), t.leaf.fingerprint());
        assert!(!one("x-client-cert-serial").is_empty());
        assert!(one("x-client-cert-not-after").ends_with('Z'));
        assert_eq!(one("x-client-cert-san-dns"), "sender.example");
        let mut identity: Vec<&str> = lines
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("x-client-cert-"))
            .collect();
        identity.sort_unstable();
        assert_eq!(
            identity,
            [
                "x-client-cert-fingerprint",
                "x-client-cert-issuer",
                "x-client-cert-not-after",
                "x-client-cert-san-dns",
                "x-client-cert-serial",
                "x-client-cert-subject",
            ],
            "{head}"
        );
        assert_eq!(one("x-forwarded-proto"), "https");
        assert_eq!(one("host"), "localhost");
        assert!(!one("x-request-id").is_empty());
        for framing in ["content-length", "transfer-encoding"] {
            assert!(
                values(&lines, framing).is_empty(),
                "request {k}: {framing} in\n{head}"
            );
        }
        assert!(
            values(&lines, "connection")
                .iter()
                .all(|v| !v.contains("close")),
            "{head}"
        );
    }
    let first = head_lines(&heads[0]);
    assert!(
        heads[0].starts_with("GET /hooks/who?x=1 HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert_eq!(
        values(&first, "x-forwarded-for"),
        ["203.0.113.7, 198.51.100.2, 127.0.0.1"],
        "inbound values first, in order, then the client's address"
    );
    assert_eq!(values(&first, "x-request-id"), ["test-req-12345"]);
    assert_eq!(values(&first, "x-app"), ["kept"]);
    let second = head_lines(&heads[1]);
    assert!(
        heads[1].starts_with("GET /hooks/plain HTTP/1.1\r\n"),
        "{}",
        heads[1]
    );
    assert_eq!(values(&second, "x-forwarded-for"), ["127.0.0.1"]);
    assert_ne!(values(&second, "x-request-id"), ["test-req-12345"]);
}

#[tokio::test]
async fn an_empty_post_reaches_the_upstream_with_exactly_one_content_length_0() {
    // A body certgate holds (here: none) goes through its own client: the client's
    // `Content-Length: 0` must come out once, not twice and not dropped.
    let t = Setup::new(vec![ok("done")]).await;

    let raw = t
        .raw(
            "POST /hooks/empty HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
        )
        .await;
    assert!(raw.text().ends_with("\r\n\r\ndone"), "{}", raw.text());

    t.up.assert_lines(&[&["POST /hooks/empty HTTP/1.1"]]);
    let conns = t.up.conns();
    let lines = head_lines(&conns[0].heads[0]);
    assert_eq!(
        values(&lines, "content-length"),
        ["0"],
        "{}",
        conns[0].heads[0]
    );
    assert!(values(&lines, "transfer-encoding").is_empty());
    assert_eq!(conns[0].raw, conns[0].heads[0].as_bytes(), "no body bytes");
}
