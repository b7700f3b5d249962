//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven through
//! its `chromedriver`) logs in, watches the overview fill with data uploaded while it is
//! open, acknowledges an alert, and saves screenshots as artefacts under
//! `target/tmp/browser/`. `.ci/run` installs both packages when they are missing; without
//! them this test fails (it does not skip).

use crate::common::{Backend, TEST_PASSWORD, TestApp, eventually, now};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process on a free loopback port, killed on drop.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser test needs Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        // Port 0: chromedriver picks a free port itself and says which.
        let mut process = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = process.stdout.take().expect("stdout");
        let port = tokio::task::spawn_blocking(move || {
            use std::io::{BufRead, BufReader};
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let port = lines.by_ref().find_map(|line| {
                line.strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
            });
            // Keep reading so chromedriver never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            port
        })
        .await
        .expect("reader")
        .expect("chromedriver says its port");
        let url = format!("http://127.0.0.1:{port}");
        eventually("chromedriver starts", Duration::from_secs(30), async || {
            reqwest::get(format!("{url}/status")).await.is_ok()
        })
        .await;
        Driver { process, url }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--window-size=1920,1080",
                ],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// How long the page may take to show what a test waits for.
const PAGE_WAIT: Duration = Duration::from_secs(30);

async fn eventually_on_page(what: &str, check: impl AsyncFnMut() -> bool) {
    eventually(what, PAGE_WAIT, check).await;
}

async fn text(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn artefact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("artefact dir");
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_logs_in_watches_the_overview_fill_and_acknowledges_an_alert() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.dashboard.refresh_ms = 300)
        .await
        .expect("SQLite always runs");
    for i in 1..=20 {
        app.bind(&format!("WALL{i:04}"), i, 1, 1).await;
    }
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // Not logged in: the overview sends the browser to the login page.
    browser.goto(&app.url("/")).await.expect("open overview");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/login")
    );
    let password = browser
        .find(Locator::Id("password"))
        .await
        .expect("password field");
    password
        .send_keys(TEST_PASSWORD)
        .await
        .expect("type password");
    browser
        .find(Locator::Id("login"))
        .await
        .expect("login button")
        .click()
        .await
        .expect("log in");
    eventually_on_page("the overview after login", async || {
        browser.current_url().await.is_ok_and(|u| u.path() == "/")
            && text(&browser, "#kpi-today-records").await == "0"
    })
    .await;
    assert_eq!(text(&browser, "#feed-state").await, "LIVE");

    // Data arrives while the page is open: the live feed fills it without a reload.
    let t = now() - 900;
    let mut stored = 0;
    for round in 0..6 {
        let records: Vec<Value> = (1..=20)
            .flat_map(|d| {
                (0..10).map(move |k| {
                    json!({"deviceSn": format!("WALL{d:04}"), "heartRate": 60 + k + round,
                           "bloodOxygen": 97, "timestamp": t + round * 100 + k})
                })
            })
            .collect();
        stored += records.len();
        let reply = app.upload(Value::Array(records), None).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let breach = app
        .upload(
            json!([{"deviceSn": "WALL0007", "bloodOxygen": 84, "timestamp": t + 850}]),
            None,
        )
        .await;
    assert_eq!(breach.status, 200);
    stored += 1;
    let expected = format!("{},{:03}", stored / 1000, stored % 1000);
    eventually_on_page("today's records on the overview", async || {
        text(&browser, "#kpi-today-records").await == expected
    })
    .await;
    eventually_on_page("the alert in the latest alerts", async || {
        text(&browser, "#fragment-alerts")
            .await
            .contains("WALL0007")
    })
    .await;
    assert_eq!(text(&browser, "#kpi-today-devices").await, "20");
    assert_eq!(text(&browser, "#kpi-alerts-critical").await, "1");
    assert!(
        text(&browser, "#health-text")
            .await
            .contains("All systems normal")
    );
    eventually_on_page("the throughput chart", async || {
        browser
            .find(Locator::Css("#chart-throughput canvas"))
            .await
            .is_ok()
    })
    .await;
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(artefact("overview.png"), &png).expect("save screenshot");

    // Acknowledge the alert from the alerts page.
    let id = app
        .scalar("SELECT MAX(id) FROM t_alert_info WHERE device_sn = 'WALL0007'")
        .await;
    browser
        .goto(&app.url("/alerts"))
        .await
        .expect("alerts page");
    browser
        .find(Locator::Css(&format!("#alert-{id} button.ack")))
        .await
        .expect("acknowledge button")
        .click()
        .await
        .expect("acknowledge");
    eventually_on_page("the confirmation", async || {
        text(&browser, "#flash").await.contains("acknowledged")
    })
    .await;
    assert_eq!(
        text(&browser, &format!("#alert-{id} .status")).await,
        "ACKNOWLEDGED"
    );
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(artefact("alerts.png"), &png).expect("save screenshot");

    // From the alert row to the wearer's page: the 24-hour charts, the week's steps, the
    // latest sample and the alert with its lifecycle.
    browser
        .find(Locator::Css(&format!(
            "#alert-{id} a[href='/devices/WALL0007']"
        )))
        .await
        .expect("device link")
        .click()
        .await
        .expect("open the device");
    eventually_on_page("the wearer's page", async || {
        browser
            .find_all(Locator::Css(".chart canvas"))
            .await
            .is_ok_and(|charts| charts.len() >= 5)
    })
    .await;
    assert!(text(&browser, "#wearer-who").await.contains("user 7"));
    assert!(text(&browser, "#wearer-latest").await.contains("SpO2 84 %"));
    assert_eq!(
        text(&browser, &format!("#wearer-alert-{id} .status")).await,
        "ACKNOWLEDGED"
    );
    // Live while open: a new sample shows without a reload.
    let reply = app
        .upload(
            json!([{"deviceSn": "WALL0007", "heartRate": 133, "bloodOxygen": 95, "step": 4321,
                    "timestamp": now() - 5}]),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    eventually_on_page("the new sample on the wearer's page", async || {
        text(&browser, "#wearer-latest").await.contains("133 bpm")
    })
    .await;
    eventually_on_page("the new breach in the alerts", async || {
        text(&browser, "#wearer-alerts")
            .await
            .contains("heart_rate_abnormal")
    })
    .await;
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(artefact("wearer.png"), &png).expect("save screenshot");
    // The search box on the devices page finds the watch by its wearer's id.
    browser
        .goto(&app.url("/devices"))
        .await
        .expect("devices page");
    let search = browser
        .find(Locator::Id("device-search"))
        .await
        .expect("search box");
    search.send_keys("7").await.expect("type user id");
    search.send_keys("\u{e007}").await.expect("submit");
    eventually_on_page("the wearer's page by user id", async || {
        browser
            .current_url()
            .await
            .is_ok_and(|u| u.path() == "/devices/WALL0007")
    })
    .await;
    browser.close().await.expect("close browser");
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_alert_info WHERE id = {id} AND status = 'ACKNOWLEDGED'"
        ))
        .await,
        1
    );
    eprintln!("screenshots: {}", artefact("").display());
    app.stop().await;
}
