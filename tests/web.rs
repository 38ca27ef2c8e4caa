//! `huddle web` in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against a real directory and group. The page is used as
//! a person uses it: click, type, scroll; what it shows is read back from
//! the page. A screenshot is kept in target/web-screenshot.png.

mod common;

use common::{Peer, home, huddle, seed, start_directory, start_server};
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `huddle web` for a user in `home` (creating groups on `host`):
/// the process and the URL it printed.
fn start_web(home: &Path, directory: &str, host: &str) -> (Killed, String) {
    let mut child = huddle(home)
        .args(["web", "--listen", "127.0.0.1:0", "--directory", directory, "--host", host])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/?token="), "{line}");
    (Killed(child), url)
}

/// The status code of a GET of `path` on the server at `host_port`.
fn status_of(host_port: &str, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(host_port).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_request_without_the_token_is_refused() {
    let home = home();
    let directory = start_directory(home.path());
    let (_web, url) = start_web(home.path(), &directory.address, "127.0.0.1:1");
    let host_port = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let token = url.split("token=").nth(1).unwrap();
    for path in ["/", "/app.js", "/app.css", "/ws", "/?token=wrong", &format!("/?token={}x", &token[1..])] {
        assert_eq!(status_of(&host_port, path), 401, "{path}");
    }
    assert_eq!(status_of(&host_port, &format!("/?token={token}")), 200);
}

/// Polls `check` until it gives something, for `within` at most.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < within, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The text of every message the page shows, in order.
async fn shown(browser: &Client) -> Vec<String> {
    let script = "return [...document.querySelectorAll('#messages .message .text')].map(e => e.textContent)";
    let value = browser.execute(script, vec![]).await.unwrap();
    serde_json::from_value(value).unwrap_or_default()
}

async fn banner(browser: &Client) -> String {
    let script = "const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent";
    browser.execute(script, vec![]).await.unwrap().as_str().unwrap_or_default().to_owned()
}

/// chromedriver on a free port, and a headless Chromium session through it.
async fn browser() -> (Killed, Client) {
    common::require("chromium and chromedriver", || {
        Command::new("chromedriver").arg("--version").output().is_ok_and(|output| output.status.success())
    });
    let port = huddle::bench::host::free_ports(1).unwrap();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Killed(driver);
    let options = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,800"]
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let webdriver = format!("http://127.0.0.1:{port}");
    let browser = until("chromedriver to take a session", Duration::from_secs(20), || async {
        ClientBuilder::new(connector.clone()).capabilities(capabilities.clone()).connect(&webdriver).await.ok()
    })
    .await;
    (driver, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_live_pages_back_shows_outages_and_text_as_text() {
    let (writer_home, reader_home) = (home(), home());
    let directory = start_directory(writer_home.path());
    let d = directory.address.clone();
    let port = huddle::bench::host::free_ports(1).unwrap();
    let group_address = format!("127.0.0.1:{port}");
    let data = writer_home.path().join("group");
    let group_command = || common::group_command(writer_home.path(), "web", &group_address, &d, &data);
    let mut group = start_server(group_command());
    // 500 messages of history, from someone else.
    let writer = Peer::req(&group_address);
    assert_eq!(writer.ask_str(&seed::join("writer")), seed::SUCCESS);
    for n in 1..=500 {
        assert_eq!(writer.ask_str(&seed::send("writer", &format!("old message {n}"))), seed::SUCCESS);
    }

    let first_port = huddle::bench::host::free_ports(10).unwrap();
    let mut host = common::huddle(writer_home.path());
    let ports = format!("{first_port}-{}", first_port + 9);
    host.args(["host", "--listen", "127.0.0.1:0", "--ports", &ports, "--directory", &d, "--data"]);
    host.arg(writer_home.path().join("host"));
    let host = start_server(host);
    let (_web, url) = start_web(reader_home.path(), &d, &host.address);
    let (_driver, browser) = browser().await;
    browser.goto(&url).await.unwrap();

    // The directory's group is listed; joining it opens it at its latest messages.
    let join = until("the group listed with a Join button", Duration::from_secs(10), || async {
        browser.find(Locator::Css(r#".group[data-name="web"] .join"#)).await.ok()
    })
    .await;
    join.click().await.unwrap();
    until("the latest messages", Duration::from_secs(10), || async {
        shown(&browser).await.last().is_some_and(|last| last == "old message 500").then_some(())
    })
    .await;

    // Scrolling up pages back, by before_seq, to the very first message.
    until("the first message, scrolled back to", Duration::from_secs(30), || async {
        browser.execute("document.getElementById('messages').scrollTop = 0", vec![]).await.unwrap();
        shown(&browser).await.first().is_some_and(|first| first == "old message 1").then_some(())
    })
    .await;
    assert_eq!(shown(&browser).await.len(), 500, "each message once");

    // Enter sends what was typed.
    let composer = browser.find(Locator::Id("composer")).await.unwrap();
    composer.send_keys("hello from the browser").await.unwrap();
    composer.send_keys("\u{E007}").await.unwrap();
    common::eventually("the message stored in the group", || {
        writer.ask_str(&seed::get("writer", None)).contains("hello from the browser")
    });
    // Shift+Enter breaks the line instead.
    for keys in ["two", "\u{E008}\u{E007}", "lines", "\u{E007}"] {
        composer.send_keys(keys).await.unwrap();
    }
    common::eventually("one message of two lines stored", || {
        writer.ask_str(&seed::get("writer", None)).contains(r#""message": "two\nlines""#)
    });

    // What another client sends shows within a second, as text.
    let hostile = "<script>window.injected = 1</script><b>bold?</b> see https://example.org/x";
    let sent = Instant::now();
    assert_eq!(writer.ask_str(&seed::send("writer", hostile)), seed::SUCCESS);
    until("another client's message on the page", Duration::from_secs(1), || async {
        shown(&browser).await.iter().any(|text| text == hostile).then_some(())
    })
    .await;
    let shown_after = sent.elapsed();
    assert!(shown_after <= Duration::from_secs(1), "shown after {shown_after:?}");
    let script = "return [document.querySelectorAll('#messages script, #messages b').length, \
                  window.injected === undefined, document.querySelectorAll('#messages a[href=\"https://example.org/x\"]').length]";
    let checks = browser.execute(script, vec![]).await.unwrap();
    assert_eq!(checks, serde_json::json!([0, true, 1]), "text stays text; the link is a link");
    browser.execute("document.getElementById('messages').scrollTop = 1e9", vec![]).await.unwrap();
    let screenshot = browser.screenshot().await.unwrap();
    std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshot.png"), screenshot).unwrap();

    // A message in a group the user is in but does not look at counts as unread.
    let other = common::start_group(writer_home.path(), "other", &d, &writer_home.path().join("other"));
    let other_writer = Peer::req(&other.address);
    assert_eq!(other_writer.ask_str(&seed::join("writer")), seed::SUCCESS);
    let join_other = until("the other group listed", Duration::from_secs(10), || async {
        browser.find(Locator::Css(r#".group[data-name="other"] .join"#)).await.ok()
    })
    .await;
    join_other.click().await.unwrap();
    until("the other group open", Duration::from_secs(10), || async {
        browser.find(Locator::Css(r#".group.open[data-name="other"]"#)).await.ok()
    })
    .await;
    browser.find(Locator::Css(r#".group[data-name="web"]"#)).await.unwrap().click().await.unwrap();
    assert_eq!(other_writer.ask_str(&seed::send("writer", "one for later")), seed::SUCCESS);
    let badge = until("an unread count on the other group", Duration::from_secs(5), || async {
        let badge = browser.find(Locator::Css(r#".group[data-name="other"] .badge"#)).await.ok()?;
        badge.text().await.ok()
    })
    .await;
    assert_eq!(badge, "1");
    assert_eq!(browser.title().await.unwrap(), "(1) huddle", "the tab's title counts what is unread");

    // A group made from the page is joined and opened at once.
    browser.find(Locator::Id("create-name")).await.unwrap().send_keys("made here").await.unwrap();
    browser.find(Locator::Id("create-button")).await.unwrap().click().await.unwrap();
    until("the new group open", Duration::from_secs(10), || async {
        browser.find(Locator::Css(r#".group.open[data-name="made here"]"#)).await.ok()
    })
    .await;
    browser.find(Locator::Css(r#".group[data-name="web"]"#)).await.unwrap().click().await.unwrap();

    // The group goes away: a banner says so; it comes back: the banner goes.
    group.kill();
    until("a banner saying the group does not answer", Duration::from_secs(10), || async {
        banner(&browser).await.contains("web does not answer").then_some(())
    })
    .await;
    // What is typed meanwhile is not lost: it stays in the composer, and
    // goes (once) when sent again after the group is back.
    let composer = browser.find(Locator::Id("composer")).await.unwrap();
    composer.send_keys("typed while away\u{E007}").await.unwrap();
    until("the unsent message back in the composer", Duration::from_secs(15), || async {
        let value = composer.prop("value").await.ok().flatten()?;
        (value == "typed while away").then_some(())
    })
    .await;
    let _group = start_server(group_command());
    until("the banner gone once the group answers", Duration::from_secs(20), || async {
        let text = banner(&browser).await;
        (!text.contains("does not answer")).then_some(())
    })
    .await;
    composer.send_keys("\u{E007}").await.unwrap();
    common::eventually("the held message stored once", || {
        writer.ask_str(&seed::get("writer", None)).matches("typed while away").count() == 1
    });
    // So does the directory.
    drop(directory);
    until("a banner saying the directory does not answer", Duration::from_secs(15), || async {
        banner(&browser).await.contains("directory does not answer").then_some(())
    })
    .await;
    browser.close().await.unwrap();
}
