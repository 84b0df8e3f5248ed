mod support;
use support::*;
#[tokio::test]
async fn debug_curl() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &["--route", "hooks=/webhooks", "--allow", "hooks=any"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let port = cg.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(format!(
            "echo | openssl s_client -connect 127.0.0.1:{port} -CAfile {} -cert {} -key {} 2>&1 | head -60; openssl x509 -in {} -noout -text | head -30; head -3 {}",
            s(&pki.ca.cert_path), s(&leaf.cert_path), s(&leaf.key_path), s(&leaf.cert_path), s(&leaf.key_path))).output().unwrap()
    }).await.unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    panic!("show");
}
