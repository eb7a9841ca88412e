//! Runs the built `interlockctl` binary against a real server and checks its
//! output and exit codes.

use std::process::Output;

use tokio::net::TcpListener;

/// A server with its own data directory; it stops when the returned guard
/// is dropped.
async fn server() -> (
    String,
    (tokio::sync::oneshot::Sender<()>, tempfile::TempDir),
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dir = tempfile::tempdir().unwrap();
    let mut config = interlock_server::Config::dev_for_tests();
    config.data_dir = dir.path().to_path_buf();
    // Prices are FRESH at the first tick: the demo's second act needs
    // no wait.
    config.price_grace_ms = 0;
    tokio::spawn(interlock_server::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    (endpoint, (stop, dir))
}

async fn ctl(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_interlockctl"));
    cmd.arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env_remove("INTERLOCK_TOKEN");
    tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("interlockctl timed out")
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_tells_the_story() {
    let (ep, _stop) = server().await;
    let o = ctl(&ep, &["demo", "--participant", "fund-7"]).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("venue-c: REJECTED"), "{out}");
    assert!(out.contains("REUSE_RATIO limit L1"), "{out}");
    assert!(
        out.contains("venue-c retries with a new order: APPROVED"),
        "{out}"
    );
    assert!(out.contains("ACTIVE -> HALTED"), "{out}");
    assert!(
        out.contains("venue-a tries again: REJECTED order fund-7-venue-a-2: participant is halted"),
        "{out}"
    );
    // Act two: every venue sees a healthy loan, Interlock does not, and a
    // new loan is refused on value.
    assert!(
        out.contains("ETH  1300: venue-a sees 1.798 (true 0.899), venue-b sees 1.863 (true 0.932); Interlock HF^eco 0.899"),
        "{out}"
    );
    assert!(
        out.contains("venues under water if they call together (HF^true < 1): venue-a, venue-b"),
        "{out}"
    );
    assert!(
        out.contains("HF^eco reaches 1 at: ETH 1445.783133"),
        "{out}"
    );
    assert!(
        out.contains("venue-c: REJECTED order fund-7-lev-venue-c-1: MIN_HF_ECO limit L3"),
        "{out}"
    );
    // Act three: the stress names the hidden double pledge; the cascade
    // closes both of its loans in the first round and moves the price.
    assert!(
        out.contains("HIDDEN BY REUSE: 1 participant(s)") && out.contains("\n  fund-7-lev\n"),
        "{out}"
    );
    assert!(
        out.contains("fund-7-lev   0.899167 -> 0.615219  29500      -"),
        "{out}"
    );
    assert!(
        out.contains("0      650         1     3           224000"),
        "{out}"
    );
    assert!(out.contains("settled after 2 round(s)"), "{out}");
    assert!(out.contains("final prices: ETH 322.005596"), "{out}");

    let o = ctl(
        &ep,
        &["--token", "dev-admin", "--json", "exposure", "fund-7"],
    )
    .await;
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "HALTED");
    assert_eq!(v["assets"][0]["owned"], "100");
    assert_eq!(v["assets"][0]["reuse_limit"], "3");

    let o = ctl(&ep, &["--token", "dev-admin", "audit"]).await;
    let (out, _) = text(&o);
    assert!(
        out.contains("set_trading_state") && out.contains("HALTED (demo: margin stress)"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_non_zero_with_the_grpc_code() {
    let (ep, _stop) = server().await;
    let o = ctl(&ep, &["--token", "dev-venue-a", "limit", "list"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("PERMISSION_DENIED: this call needs the admin role"),
        "{:?}",
        text(&o)
    );

    let o = ctl(&ep, &["limit", "list"]).await;
    assert!(text(&o).1.contains("UNAUTHENTICATED"), "{:?}", text(&o));

    let args = [
        "--token",
        "dev-venue-a",
        "check",
        "--participant",
        "p",
        "--asset",
        "ETH",
        "--quantity",
        "1e5",
    ];
    let o = ctl(&ep, &args).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("INVALID_ARGUMENT: quantity"),
        "{:?}",
        text(&o)
    );

    let o = ctl("http://127.0.0.1:1", &["health"]).await;
    assert!(!o.status.success());
    assert!(text(&o).1.contains("cannot connect"), "{:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_file_then_check_and_tables() {
    let (ep, _stop) = server().await;
    let dir = std::env::temp_dir().join(format!("interlockctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("positions.csv");
    let mut lines = String::from("# type,participant,...\n");
    for i in 0..250 {
        lines.push_str(&format!("collateral,fund-{i},ETH,100\n"));
    }
    lines.push_str("commitment,fund-0,venue-b,ETH,40\n");
    std::fs::write(&csv, lines).unwrap();
    let o = ctl(
        &ep,
        &[
            "--token",
            "dev-broker",
            "sync",
            csv.to_str().unwrap(),
            "--batch",
            "100",
        ],
    )
    .await;
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        text(&o)
            .0
            .contains("synced 251 updates in 3 messages; last applied sequence 3"),
        "{:?}",
        text(&o)
    );

    let check = [
        "--token",
        "dev-venue-a",
        "check",
        "--participant",
        "fund-0",
        "--asset",
        "ETH",
        "--quantity",
        "70",
        "--order-id",
        "o1",
    ];
    let (out, _) = text(&ctl(&ep, &check).await);
    assert!(
        out.starts_with("REJECTED order o1: REUSE_RATIO limit default"),
        "{out}"
    );
    let check = [
        "--token",
        "dev-venue-a",
        "--json",
        "check",
        "--participant",
        "fund-0",
        "--asset",
        "ETH",
        "--quantity",
        "60",
    ];
    let v: serde_json::Value = serde_json::from_slice(&ctl(&ep, &check).await.stdout).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), v["headroom"].as_str()),
        (Some("APPROVED"), Some("NONE"))
    );

    let (out, _) = text(&ctl(&ep, &["--token", "dev-admin", "top", "--limit", "3"]).await);
    assert!(
        out.lines().nth(2).unwrap().contains("fund-0") && out.contains("100%"),
        "{out}"
    );
    let (out, _) = text(&ctl(&ep, &["health"]).await);
    assert!(
        out.contains("interlock.v1.PreTradeService  SERVING"),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn help_explains_itself() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_interlockctl"))
        .arg("--help")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for word in [
        "demo",
        "check",
        "halt",
        "exposure",
        "INTERLOCK_ENDPOINT",
        "--json",
    ] {
        assert!(out.contains(word), "--help lacks {word}: {out}");
    }
}

/// The load generator runs for a moment and prints well-formed figures
/// (the figures themselves live in bench/RESULTS.md, not in tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_briefly_and_prints_well_formed_json() {
    let (ep, _stop) = server().await;
    for mode in ["unary", "stream"] {
        let args = [
            "--json",
            "bench",
            "--clients",
            "2",
            "--participants",
            "10",
            "--duration-secs",
            "1",
            "--warmup-secs",
            "0",
            "--mode",
            mode,
            "--in-flight",
            "8",
        ];
        let o = ctl(&ep, &args).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["mode"], mode);
        let requests = v["requests"].as_u64().unwrap();
        assert!(requests > 0, "{v}");
        assert_eq!(v["errors"], 0, "{v}");
        assert_eq!(
            v["approved"].as_u64().unwrap() + v["rejected"].as_u64().unwrap(),
            v["checks"].as_u64().unwrap()
        );
        assert_eq!(v["checks"], v["requests"], "{v}");
        assert!(v["p50_us"].as_u64().unwrap() <= v["p99_us"].as_u64().unwrap());
    }
    let o = ctl(&ep, &["bench", "--clients", "0"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--clients"), "{:?}", text(&o));
    let o = ctl(&ep, &["bench", "--commit-pct", "80", "--release-pct", "30"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("--release-pct"), "{:?}", text(&o));
}

/// The realistic mix: Zipf-skewed participants, a share of rejected
/// checks, commits and releases after approvals and broker syncs in the
/// background, in both modes, all counted and none failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_realistic_mix() {
    let (ep, _stop) = server().await;
    for mode in ["unary", "stream"] {
        let args = [
            "--json",
            "bench",
            "--clients",
            "2",
            "--participants",
            "50",
            "--skew",
            "zipf",
            "--reject-pct",
            "20",
            "--commit-pct",
            "50",
            "--release-pct",
            "30",
            "--sync-per-sec",
            "20",
            "--duration-secs",
            "1",
            "--warmup-secs",
            "0",
            "--mode",
            mode,
            "--in-flight",
            "8",
        ];
        let o = ctl(&ep, &args).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        assert_eq!(n("errors"), 0, "{v}");
        assert!(n("approved") > 0 && n("rejected") > 0, "{v}");
        assert!(n("commits") > 0 && n("releases") > 0, "{v}");
        assert!(n("sync_messages") > 0, "{v}");
        assert_eq!(n("requests"), n("checks") + n("commits") + n("releases"));
        assert_eq!(v["skew"], "zipf(s=1)", "{v}");
        // Commits and releases follow approvals only.
        assert!(n("commits") + n("releases") <= n("approved"), "{v}");
    }
}

/// A reader that closes its end early (`interlockctl ... | head -1`) ends
/// the CLI quietly and successfully, not with a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly() {
    let pki = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_interlockctl"))
        .args(["certs", "init", pki.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the first line is written.
    drop(child.stdout.take());
    let o = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("interlockctl timed out")
        .unwrap();
    let (_, err) = text(&o);
    assert!(o.status.success(), "{:?} {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
}

/// The secure setup in two commands: `certs init`, then mutual TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_init_then_mutual_tls() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path().to_str().unwrap().to_owned();
    let o = ctl("http://unused", &["certs", "init", &dir]).await;
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("admin-admin.key"), "{:?}", text(&o));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let data = tempfile::tempdir().unwrap();
    let mut config = interlock_server::Config::dev_for_tests();
    config.dev = false;
    config.data_dir = data.path().to_path_buf();
    config.tls_cert = Some(pki.path().join("server.pem"));
    config.tls_key = Some(pki.path().join("server.key"));
    config.tls_client_ca = Some(pki.path().join("ca.pem"));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(interlock_server::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    let as_ = |who: &str| {
        vec![
            "--ca".to_owned(),
            format!("{dir}/ca.pem"),
            "--cert".to_owned(),
            format!("{dir}/{who}.pem"),
            "--key".to_owned(),
            format!("{dir}/{who}.key"),
        ]
    };
    let mut args = as_("admin-admin");
    args.extend(["limit", "list"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = ctl(&endpoint, &args).await;
    assert!(o.status.success(), "{:?}", text(&o));

    let mut args = as_("venue-venue-a");
    args.extend(["limit", "list"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = ctl(&endpoint, &args).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("PERMISSION_DENIED"), "{:?}", text(&o));

    // Health over mutual TLS needs a certificate too; without one the
    // handshake is refused.
    let mut args = as_("auditor-auditor");
    args.push("health".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = ctl(&endpoint, &args).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = ctl(&endpoint, &["--ca", &format!("{dir}/ca.pem"), "health"]).await;
    assert!(!o.status.success());
}

/// The gRPC floor answers the same load generator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_against_the_echo_floor() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let config = interlock_server::Config::dev_for_tests();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        interlock_server::echo::serve_floor(&config, listener, async move {
            let _ = stopped.await;
        })
        .await
    });
    for mode in ["unary", "stream"] {
        let args = [
            "--json",
            "bench",
            "--target",
            "echo",
            "--clients",
            "2",
            "--duration-secs",
            "1",
            "--warmup-secs",
            "0",
            "--mode",
            mode,
        ];
        let o = ctl(&endpoint, &args).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["requests"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["errors"], 0, "{v}");
        assert_eq!(v["approved"], v["requests"], "{v}");
    }
}

/// The value layer from the command line, as a risk desk sets it up:
/// assets, venues, an oracle's prices, a broker's pledges and debts, and a
/// participant's health across venues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_venues_prices_and_health() {
    let (ep, _stop) = server().await;
    let ep = ep.as_str();
    let admin = |rest: &[&'static str]| [&["--token", "dev-admin"][..], rest].concat();
    let out = ok(
        ep,
        &admin(&[
            "asset",
            "set",
            "ETH",
            "--class",
            "major",
            "--haircut",
            "0.17",
        ]),
    )
    .await;
    assert_eq!(out, "ETH: class - -> MAJOR\nETH: haircut - -> 0.17\n");
    ok(ep, &admin(&["asset", "set", "USDC", "--class", "stable"])).await;
    let out = ok(
        ep,
        &admin(&[
            "venue",
            "set",
            "venue-a",
            "ETH",
            "--threshold",
            "0.83",
            "--ltv",
            "0.8",
        ]),
    )
    .await;
    assert_eq!(out, "venue-a/ETH: - -> threshold 0.83 ltv 0.8\n");
    ok(ep, &admin(&["venue", "rule", "venue-b", "morpho"])).await;
    let out = ok(ep, &admin(&["venue", "list"])).await;
    assert!(out.contains("venue-a  ETH    0.83       0.8"), "{out}");
    assert!(
        out.contains("venue-b  -      -          -    morpho"),
        "{out}"
    );
    let out = ok(
        ep,
        &[
            "--token",
            "dev-oracle",
            "price",
            "publish",
            "ETH=2000",
            "USDC=1",
        ],
    )
    .await;
    assert!(out.contains("ETH    2000    ACCEPTED"), "{out}");

    // A liability on a venue no admin configured refuses the whole file's
    // message, naming the field; on a configured one it is taken.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("positions.csv");
    let lines = "collateral,P,ETH,100\ncommitment,P,venue-a,ETH,100\n\
                 liability,P,venue-a,USDC,60000\n";
    std::fs::write(&csv, format!("{lines}liability,P,venue-z,USDC,5\n")).unwrap();
    let path = csv.to_str().unwrap();
    let o = ctl(ep, &["--token", "dev-broker", "sync", path]).await;
    assert!(!o.status.success());
    let (_, err) = text(&o);
    assert!(
        err.contains("INVALID_ARGUMENT: updates.liability.venue: venue venue-z is not configured"),
        "{err}"
    );
    std::fs::write(&csv, lines).unwrap();
    let o = ctl(ep, &["--token", "dev-broker", "sync", path]).await;
    assert!(o.status.success(), "{:?}", text(&o));

    let out = ok(ep, &admin(&["health", "P"])).await;
    assert!(
        out.starts_with("participant P  HF^eco 2.766667  (collateral after haircuts 166000 / debt everywhere 60000)"),
        "{out}"
    );
    assert!(
        out.contains("venue-a liquidates at: ETH 722.891566"),
        "{out}"
    );
    // `asset list` is `price list`. A price's state may move on between
    // two reads (RECOVERING turns FRESH once its grace has passed), and
    // only once: the asset list equals the price list read just before it
    // or the one read just after.
    let before = ok(ep, &admin(&["price", "list"])).await;
    let list = ok(ep, &admin(&["asset", "list"])).await;
    let after = ok(ep, &admin(&["price", "list"])).await;
    assert!(list == before || list == after, "{before}\n{list}\n{after}");
    assert!(list.contains("ETH    MAJOR   2000"), "{list}");
    assert!(list.contains("0.17"), "{list}");

    // `asset set` without a change is a usage error, before any call.
    let o = ctl(ep, &["--token", "dev-admin", "asset", "set", "ETH"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--class"), "{:?}", text(&o));
    let o = ctl(
        ep,
        &[
            "--token",
            "dev-admin",
            "--json",
            "asset",
            "set",
            "ETH",
            "--unpin",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["haircut"]["previous"], "0.17");
}

/// Runs interlockctl and returns its standard output; it must succeed.
async fn ok(endpoint: &str, args: &[&str]) -> String {
    let o = ctl(endpoint, args).await;
    assert!(o.status.success(), "{args:?}: {:?}", text(&o));
    text(&o).0
}

/// The systemic questions from the command line, after the demo has set
/// up its double pledge: every command prints a table or well-formed JSON,
/// the cascade writes its SVG chart, and the ranking shows its progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_cascade_systemic_and_venue_report() {
    let (ep, _stop) = server().await;
    let ep = ep.as_str();
    let o = ctl(ep, &["demo", "--participant", "f"]).await;
    assert!(o.status.success(), "{:?}", text(&o));
    fn admin<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        [&["--token", "dev-admin"][..], rest].concat()
    }
    let json = |rest: &[&'static str]| [&["--token", "dev-admin", "--json"][..], rest].concat();

    let out = ok(ep, &admin(&["stress", "--scenario", "CHAOS_TIERS"])).await;
    assert!(out.contains("HIDDEN BY REUSE: 1 participant(s)"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(ep, &json(&["stress", "--shock", "ETH=-50%"])).await).unwrap();
    assert_eq!(v["ecosystem"]["breached_on_two"], 1);

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("cascade.svg");
    let mut cascade = admin(&[
        "cascade", "--shock", "ETH=-50%", "--impact", "exp", "--depth", "ETH=300", "--plot",
    ]);
    cascade.push(svg.to_str().unwrap());
    let out = ok(ep, &cascade).await;
    assert!(out.contains("settled after 2 round(s)"), "{out}");
    assert!(out.contains("PRICE PATH (100 = before the shock)"), "{out}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(
        chart.starts_with("<svg ") && chart.trim_end().ends_with("</svg>"),
        "{chart}"
    );
    assert!(
        chart.contains("<polyline") && chart.contains(">ETH<"),
        "{chart}"
    );
    let v: serde_json::Value = serde_json::from_str(
        &ok(
            ep,
            &json(&["cascade", "--shock", "ETH=-50%", "--depth", "ETH=300"]),
        )
        .await,
    )
    .unwrap();
    assert_eq!(v["rounds"].as_array().unwrap().len(), 2);

    let o = ctl(
        ep,
        &admin(&[
            "systemic", "--top", "5", "--shock", "ETH=-50%", "--depth", "ETH=300",
        ]),
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("SYSTEMIC RANKING"), "{out}");
    assert!(err.contains("participants"), "a progress bar: {err}");
    let v: serde_json::Value = serde_json::from_str(
        &ok(
            ep,
            &json(&["systemic", "--top", "5", "--shock", "ETH=-50%"]),
        )
        .await,
    )
    .unwrap();
    assert!(!v["rows"].as_array().unwrap().is_empty());

    let out = ok(ep, &admin(&["venue-report", "venue-a"])).await;
    assert!(out.contains("also pledged at: venue-b"), "{out}");
    let out = ok(ep, &["--token", "dev-venue-a", "venue-report"]).await;
    assert!(
        out.contains("fewer than 5 participants: no figure is given"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(ep, &json(&["scenarios"])).await).unwrap();
    assert_eq!(v[1]["name"], "CHAOS_TIERS");
}
