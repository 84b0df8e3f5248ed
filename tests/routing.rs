//! Route matching: path-segment prefixes, longest prefix wins, per-route upstreams, and
//! RFC 3986 dot-segment removal before the route is chosen (so `..` cannot climb from an
//! open route into a closed one).

mod support;

use support::*;

/// Routes `hooks=/webhooks` (any certificate, upstream `hooks`) and `admin=/admin` (only
/// `CN=admin`, upstream `admin`); no `/` route.
struct Setup {
    pki: Pki,
    hooks: Upstream,
    admin: Upstream,
    default: Upstream,
    cg: Certgate,
    sender: Leaf,
    administrator: Leaf,
}

async fn setup(extra: &[&str]) -> Setup {
    let pki = Pki::new();
    let hooks = Upstream::start().await;
    let admin = Upstream::start().await;
    let default = Upstream::start().await;
    let hooks_up = format!("hooks={}", hooks.url);
    let admin_up = format!("admin={}", admin.url);
    let mut args = vec![
        "--route",
        "hooks=/webhooks",
        "--allow",
        "hooks=any",
        "--route-upstream",
        &hooks_up,
        "--route",
        "admin=/admin",
        "--allow",
        "admin=cn:admin",
        "--route-upstream",
        &admin_up,
    ];
    args.extend_from_slice(extra);
    let cg = Certgate::start(&pki, &default.url, &args).await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let administrator = pki.client("admin", ClientSpec::cn_only("admin"));
    Setup {
        pki,
        hooks,
        admin,
        default,
        cg,
        sender,
        administrator,
    }
}

impl Setup {
    async fn status(&self, leaf: &Leaf, path: &str) -> u16 {
        self.cg
            .client(&self.pki)
            .cert(leaf)
            .get(path)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
            .status
    }
}

#[tokio::test]
async fn prefix_matches_on_path_segment_boundaries_only() {
    let t = setup(&[]).await;

    assert_eq!(t.status(&t.sender, "/webhooks").await, 200);
    assert_eq!(t.status(&t.sender, "/webhooks/a").await, 200);
    assert_eq!(t.status(&t.sender, "/webhooksX").await, 404);
    assert_eq!(t.status(&t.sender, "/webhooksX/a").await, 404);
    assert_eq!(t.status(&t.sender, "/").await, 404);

    assert_eq!(t.hooks.paths(), ["/webhooks", "/webhooks/a"]);
    t.admin.assert_nothing("admin upstream");
    t.default.assert_nothing("default upstream");
}

#[tokio::test]
async fn longest_matching_prefix_wins_and_reaches_its_own_upstream() {
    let pki = Pki::new();
    let hooks = Upstream::start().await;
    let special = Upstream::start().await;
    let hooks_up = format!("hooks={}", hooks.url);
    let special_up = format!("special={}", special.url);
    // Declared shorter-last to show order of flags does not decide.
    let cg = Certgate::start(
        &pki,
        &hooks.url,
        &[
            "--route",
            "special=/webhooks/special",
            "--allow",
            "special=cn:special",
            "--route-upstream",
            &special_up,
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
            "--route-upstream",
            &hooks_up,
        ],
    )
    .await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let special_client = pki.client("special", ClientSpec::cn_only("special"));
    let get = |leaf: &Leaf, path: &str| {
        let c = cg.client(&pki).cert(leaf);
        let path = path.to_string();
        async move { c.get(&path).await.unwrap().status }
    };

    assert_eq!(get(&special_client, "/webhooks/special/x").await, 200);
    assert_eq!(special.paths(), ["/webhooks/special/x"]);
    hooks.assert_nothing("the longer route's request went to the shorter route's upstream");

    // The longer route's rules apply, not the shorter route's `any`.
    assert_eq!(get(&sender, "/webhooks/special/x").await, 403);
    // Not on a segment boundary: falls back to /webhooks.
    assert_eq!(get(&sender, "/webhooks/specialX").await, 200);
    assert_eq!(hooks.paths(), ["/webhooks/specialX"]);
    assert_eq!(special.count(), 1);
}

#[tokio::test]
async fn trailing_slash_in_a_prefix_is_significant() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &["--route", "prod=/prod/", "--allow", "prod=any"],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);

    assert_eq!(client.get("/prod").await.unwrap().status, 404);
    assert_eq!(client.get("/prod/").await.unwrap().status, 200);
    assert_eq!(client.get("/prod/x").await.unwrap().status, 200);
    assert_eq!(upstream.paths(), ["/prod/", "/prod/x"]);
}

#[tokio::test]
async fn dot_segments_are_removed_before_routing_so_they_cannot_escape_a_route() {
    let t = setup(&[]).await;
    let sneaky = [
        "/webhooks/../admin",
        "/webhooks/%2e%2e/admin",
        "/webhooks/%2E%2E/admin",
        "/webhooks/.%2e/admin",
        "/webhooks/./../admin/",
    ];

    // Judged by the admin route: the webhooks client is refused...
    for path in sneaky {
        assert_eq!(t.status(&t.sender, path).await, 403, "{path}");
    }
    t.hooks
        .assert_nothing("dot segments reached the webhooks upstream");
    t.admin
        .assert_nothing("a refused request reached the admin upstream");

    // ...and the admin client reaches the admin upstream with the normalised path.
    for path in sneaky {
        assert_eq!(t.status(&t.administrator, path).await, 200, "{path}");
    }
    assert_eq!(
        t.admin.paths(),
        ["/admin", "/admin", "/admin", "/admin", "/admin/"]
    );
    t.hooks
        .assert_nothing("dot segments reached the webhooks upstream");
}

#[tokio::test]
async fn upstream_sees_the_normalised_path_and_the_untouched_query() {
    let t = setup(&[]).await;

    let status = t
        .status(&t.sender, "/webhooks/a/./b/../c?x=1&y=%2F..%2F&z")
        .await;

    assert_eq!(status, 200);
    assert_eq!(t.hooks.paths(), ["/webhooks/a/c?x=1&y=%2F..%2F&z"]);
}

#[tokio::test]
async fn encoded_slash_and_backslash_get_400() {
    let t = setup(&[]).await;

    for path in [
        "/webhooks%2Fx",
        "/webhooks/a%2fb",
        "/a%5Cb",
        "/webhooks/a%5cb",
    ] {
        assert_eq!(t.status(&t.sender, path).await, 400, "{path}");
    }
    t.hooks.assert_nothing("encoded separators");
    t.admin.assert_nothing("encoded separators");
    t.default.assert_nothing("encoded separators");
}

#[tokio::test]
async fn dot_segments_climbing_above_root_get_400() {
    let t = setup(&[]).await;

    for path in [
        "/../x",
        "/webhooks/../../x",
        "/webhooks/%2e%2e/%2e%2e/webhooks/a",
    ] {
        assert_eq!(t.status(&t.sender, path).await, 400, "{path}");
    }
    t.hooks.assert_nothing("paths above root");
    t.default.assert_nothing("paths above root");
}

#[tokio::test]
async fn no_matching_route_gets_404_and_nothing_is_forwarded() {
    let t = setup(&[]).await;

    let resp =
        t.cg.client(&t.pki)
            .cert(&t.administrator)
            .get("/elsewhere")
            .await
            .unwrap();

    assert_eq!(resp.status, 404);
    t.hooks.assert_nothing("404");
    t.admin.assert_nothing("404");
    t.default.assert_nothing("404");
}

#[tokio::test]
async fn root_route_catches_what_no_other_route_matches() {
    let t = setup(&["--route", "rest=/", "--allow", "rest=any"]).await;

    assert_eq!(t.status(&t.sender, "/webhooksX").await, 200);
    assert_eq!(t.status(&t.sender, "/elsewhere/a").await, 200);
    assert_eq!(t.default.paths(), ["/webhooksX", "/elsewhere/a"]);
    t.hooks.assert_nothing("root route");
}

/// Above a handful of routes the route is found through a map of prefixes instead of a scan
/// (`policy/route_index.rs`): with 40 more routes, the same choices as with two, including
/// segment boundaries, trailing slashes, the longest prefix, other spellings and 404.
#[tokio::test]
async fn with_many_routes_the_choices_are_the_same() {
    let mut owned: Vec<String> = Vec::new();
    for i in 0..40 {
        owned.push("--route".into());
        owned.push(format!("f{i}=/f/{i}{}", if i % 2 == 0 { "/" } else { "" }));
        owned.push("--allow".into());
        owned.push(format!("f{i}=cn:filler-{i}"));
    }
    owned.extend(
        [
            "--route",
            "hooksub=/webhooks/sub/",
            "--allow",
            "hooksub=cn:admin",
        ]
        .map(String::from),
    );
    let extra: Vec<&str> = owned.iter().map(String::as_str).collect();
    let t = setup(&extra).await;

    assert_eq!(t.status(&t.sender, "/webhooks").await, 200);
    assert_eq!(t.status(&t.sender, "/webhooks/a").await, 200);
    assert_eq!(t.status(&t.sender, "/webhooksX").await, 404);
    assert_eq!(t.status(&t.sender, "/").await, 404);
    assert_eq!(t.status(&t.sender, "/f").await, 404);
    // `/webhooks/sub/` (trailing slash): `/webhooks/sub` itself is the shorter route's.
    assert_eq!(t.status(&t.sender, "/webhooks/sub").await, 200);
    assert_eq!(t.status(&t.sender, "/webhooks/sub/x").await, 403);
    assert_eq!(
        t.status(&t.sender, "/webhooks/%73ub/x").await,
        403,
        "other spelling of /sub/"
    );
    assert_eq!(t.status(&t.administrator, "/webhooks/sub/x").await, 200);
    // Filler routes: each its own rule; even ones end with '/', odd ones do not.
    assert_eq!(t.status(&t.sender, "/f/7").await, 403);
    assert_eq!(t.status(&t.sender, "/f/7/deep/er").await, 403);
    assert_eq!(
        t.status(&t.sender, "/f/8").await,
        404,
        "/f/8/ does not match /f/8"
    );
    assert_eq!(t.status(&t.sender, "/f/8/x").await, 403);
    assert_eq!(
        t.status(&t.sender, "/f/70").await,
        404,
        "not a segment boundary of /f/7"
    );
    // Closed route reached through dot segments: still the closed route.
    assert_eq!(t.status(&t.sender, "/webhooks/x/../sub/y").await, 403);
    assert_eq!(t.status(&t.administrator, "/admin/x").await, 200);

    assert_eq!(
        t.hooks.paths(),
        ["/webhooks", "/webhooks/a", "/webhooks/sub"],
        "only the allowed requests to the hooks route reached its upstream"
    );
    assert_eq!(t.admin.paths(), ["/admin/x"]);
    assert_eq!(
        t.default.paths(),
        ["/webhooks/sub/x"],
        "hooksub has no upstream of its own"
    );
}
