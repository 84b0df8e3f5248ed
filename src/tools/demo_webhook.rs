//! The signed-webhook step of `certgate demo`: a DocuSign Connect-style HMAC key, a webhook
//! body and the same body altered, and the `X-DocuSign-Signature-1` DocuSign would send.

use std::path::Path;

/// The `--verify signed=docusign` route's path.
pub const SIGNED_PATH: &str = "/signed/docusign";
/// The demo's DocuSign Connect HMAC key (file `docusign-hmac.key`).
pub const DEMO_HMAC_KEY: &str = "demo-connect-hmac-key";
/// The signed webhook body (file `webhook.json`), and the same body altered by the wire.
pub const DEMO_WEBHOOK: &str =
    r#"{"event":"envelope-completed","data":{"envelopeId":"93be49ab-demo"}}"#;
pub const DEMO_WEBHOOK_ALTERED: &str =
    r#"{"event":"envelope-completed","data":{"envelopeId":"93be49ac-demo"}}"#;

/// The key file and the two webhook bodies of the signed-webhook step.
/// The error names the file.
pub fn write_webhook_files(dir: &Path) -> Result<(), String> {
    for (name, contents) in [
        ("docusign-hmac.key", format!("{DEMO_HMAC_KEY}\n")),
        ("webhook.json", DEMO_WEBHOOK.to_string()),
        ("webhook-altered.json", DEMO_WEBHOOK_ALTERED.to_string()),
    ] {
        std::fs::write(dir.join(name), contents).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// What DocuSign Connect sends for `webhook.json`: Base64(HMAC-SHA256(key, body)).
pub fn webhook_signature() -> String {
    use base64::Engine as _;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, DEMO_HMAC_KEY.as_bytes());
    base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, DEMO_WEBHOOK.as_bytes()))
}
