//! The body step of a `--verify` route: read the whole body, up to `--max-body-bytes`,
//! within a deadline. Other routes never come here: their bodies stream untouched.

use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than --max-body-bytes {limit}")]
    TooLarge { limit: usize },
    #[error("request body did not arrive within {0:?}")]
    Timeout(Duration),
    #[error("request body could not be read: {0}")]
    Read(String),
}

/// The declared `Content-Length`, if the head has one that parses.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Read `body` whole: at most `limit` bytes, within `deadline`.
pub async fn read_body<B>(body: B, limit: usize, deadline: Duration) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::Timeout(deadline)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge { limit })
        }
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn reads_up_to_the_limit_and_no_further() {
        let b = read_body(
            Full::new(Bytes::from_static(b"12345")),
            5,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!(&b[..], b"12345");
        let e = read_body(
            Full::new(Bytes::from_static(b"123456")),
            5,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, BodyError::TooLarge { limit: 5 }));
    }

    #[test]
    fn content_length() {
        let mut h = http::HeaderMap::new();
        assert_eq!(declared_length(&h), None);
        h.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("42"),
        );
        assert_eq!(declared_length(&h), Some(42));
    }
}
