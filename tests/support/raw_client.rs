//! A raw HTTP/1.1 client over mTLS that keeps its connection: it writes exactly the bytes a
//! test gives (whole, or cut into pieces with pauses between the TLS writes) and reads
//! answers one at a time by their framing (length, chunked, none, or until close), keeping
//! the wire bytes of each. For tests that must control how a request arrives (pipelining,
//! a head split across writes) or see exactly how an answer is framed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Alpn, Client, CLIENT_TIMEOUT};

/// One answer as it came off the wire.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The head's bytes, up to and including the empty line.
    pub head: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, decoded when chunked.
    pub body: Vec<u8>,
    /// The body came chunked (and ended with its last chunk).
    pub chunked: bool,
}

impl Answer {
    /// Every value of the field `name` (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The value of `name`; panics if it occurs more than once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "{name} occurs {} times: {}",
            all.len(),
            self.head
        );
        all.first().copied()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why an answer could not be read whole.
#[derive(Debug)]
pub struct Cut {
    /// Every byte of the answer that arrived.
    pub bytes: Vec<u8>,
    /// The connection ended (EOF, close_notify or error); false: `CLIENT_TIMEOUT` passed.
    pub closed: bool,
}

pub struct RawConn {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    /// Read but not yet part of an answer.
    buf: Vec<u8>,
    /// The connection ended.
    eof: bool,
    /// This end's address: certgate logs it as the connection's `peer`.
    pub local: SocketAddr,
}

impl RawConn {
    /// TLS (ALPN http/1.1) to certgate with `client`'s certificate.
    pub async fn open(client: &Client) -> RawConn {
        let tls = client
            .clone()
            .alpn(Alpn::Http1)
            .tls_connect()
            .await
            .unwrap_or_else(|e| panic!("raw client: TLS connect failed: {e:?}"));
        let local = tls.get_ref().0.local_addr().unwrap();
        RawConn {
            tls,
            buf: Vec::new(),
            eof: false,
            local,
        }
    }

    /// Write `bytes` as one TLS write.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.expect("raw client: write");
        self.tls.flush().await.expect("raw client: flush");
    }

    /// Write `bytes` in two TLS writes, cut at `at`, with `pause` between them.
    pub async fn send_split(&mut self, bytes: &[u8], at: usize, pause: Duration) {
        self.send(&bytes[..at]).await;
        tokio::time::sleep(pause).await;
        self.send(&bytes[at..]).await;
    }

    /// More bytes into `buf`; false once the connection has ended or `CLIENT_TIMEOUT` passed.
    async fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        match tokio::time::timeout(CLIENT_TIMEOUT, self.tls.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(_) => {
                self.eof = true;
                false
            }
            Err(_) => false,
        }
    }

    /// The next answer, whole; panics if it is cut or late. `head_request`: the request
    /// was HEAD, so the answer has no body.
    pub async fn answer(&mut self, head_request: bool) -> Answer {
        match self.try_answer(head_request).await {
            Ok(a) => a,
            Err(cut) => panic!(
                "no whole answer ({}): {:?}",
                if cut.closed {
                    "connection ended"
                } else {
                    "timed out"
                },
                String::from_utf8_lossy(&cut.bytes)
            ),
        }
    }

    /// The next answer, or what arrived of it.
    pub async fn try_answer(&mut self, head_request: bool) -> Result<Answer, Cut> {
        let (status, head, headers) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut fields);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let headers: Vec<(String, String)> = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let head = String::from_utf8_lossy(&self.buf[..n]).into_owned();
                    self.buf.drain(..n);
                    break (status, head, headers);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => panic!(
                    "raw client: not an HTTP/1 answer ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            if !self.fill().await {
                return Err(self.cut(Vec::new()));
            }
        };
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let mut answer = Answer {
            status,
            head,
            headers: headers.clone(),
            body: Vec::new(),
            chunked: false,
        };
        let no_body = head_request || status == 204 || status == 304 || status < 200;
        if no_body {
            return Ok(answer);
        }
        if value("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            answer.chunked = true;
            return match self.dechunk().await {
                Ok(body) => {
                    answer.body = body;
                    Ok(answer)
                }
                Err(wire) => Err(self.cut([answer.head.into_bytes(), wire].concat())),
            };
        }
        if let Some(n) = value("content-length") {
            let n: usize = n.parse().expect("a numeric content-length");
            while self.buf.len() < n {
                if !self.fill().await {
                    let got = std::mem::take(&mut self.buf);
                    return Err(self.cut([answer.head.into_bytes(), got].concat()));
                }
            }
            answer.body = self.buf.drain(..n).collect();
            return Ok(answer);
        }
        // Until the connection ends.
        while self.fill().await {}
        if !self.eof {
            let got = std::mem::take(&mut self.buf);
            return Err(self.cut([answer.head.into_bytes(), got].concat()));
        }
        answer.body = std::mem::take(&mut self.buf);
        Ok(answer)
    }

    fn cut(&mut self, mut bytes: Vec<u8>) -> Cut {
        bytes.append(&mut self.buf);
        Cut {
            bytes,
            closed: self.eof,
        }
    }

    /// A chunked body up to and including its last chunk and trailers; Err(the wire bytes
    /// read) when the connection ends first.
    async fn dechunk(&mut self) -> Result<Vec<u8>, Vec<u8>> {
        let mut body = Vec::new();
        let mut wire = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if !self.fill().await {
                    wire.append(&mut self.buf);
                    return Err(wire);
                }
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .unwrap_or_else(|_| panic!("raw client: bad chunk size line {line:?}"));
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        wire.extend(self.buf.drain(..i + 4));
                        return Ok(body);
                    }
                    if !self.fill().await {
                        wire.append(&mut self.buf);
                        return Err(wire);
                    }
                }
            }
            let need = line_end + 2 + size + 2;
            while self.buf.len() < need {
                if !self.fill().await {
                    wire.append(&mut self.buf);
                    return Err(wire);
                }
            }
            assert_eq!(
                &self.buf[need - 2..need],
                b"\r\n",
                "raw client: chunk not followed by CRLF"
            );
            body.extend_from_slice(&self.buf[line_end + 2..need - 2]);
            wire.extend(self.buf.drain(..need));
        }
    }

    /// Reads until the connection ends; None if it is still open after `wait`. Returns
    /// what arrived (after anything already buffered).
    pub async fn read_until_closed(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = std::mem::take(&mut self.buf);
        if self.eof {
            return Some(got);
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Err(_) => {
                    self.buf = got;
                    return None;
                }
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.eof = true;
                    return Some(got);
                }
                Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
