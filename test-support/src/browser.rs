//! A real browser for the console's tests: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver on 127.0.0.1). `scripts/browser-tools` installs both when they are
//! missing. Screenshots go to `target/console-screenshots/`: the main views of each test, and
//! the view a test failed on.

use std::future::Future;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use futures::FutureExt;
use serde_json::{Value, json};

use crate::{DEADLINE, Process};

/// One browser at a time: each is a few hundred MB and the machine may have two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `scripts/browser-tools` once per test binary.
fn install_browser() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = workspace_root().join("scripts/browser-tools");
        let status = Command::new("bash").arg(&script).status().unwrap();
        assert!(status.success(), "{} failed: {status}", script.display());
    });
}

/// The repository's root (this crate lives one folder below it).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where screenshots go.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let folder = target.join("console-screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// The test's name, which starts each screenshot's.
    name: String,
}

/// Runs `test` with a fresh browser; on failure, saves what the page showed before failing.
pub async fn with_browser<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = Browser>,
{
    let _turn = ONE_AT_A_TIME.lock().await;
    install_browser();
    // The driver outlives the test's future, so that a failing test's page can still be saved.
    let (browser, _driver) = Browser::start(name).await;
    let client = browser.client.clone();
    match AssertUnwindSafe(test(browser)).catch_unwind().await {
        Ok(browser) => {
            let _ = browser.client.close().await;
        }
        Err(panic) => {
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(screenshots().join(format!("{name}-failure.png")), png);
            }
            let _ = client.close().await;
            std::panic::resume_unwind(panic);
        }
    }
}

impl Browser {
    async fn start(name: &str) -> (Self, Process) {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}")).stdin(Stdio::null());
        let driver = Process::spawn("chromedriver", &mut command);
        let url = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(error) if started.elapsed() < DEADLINE => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no WebDriver session: {error}; {}", driver.describe()),
            }
        };
        let browser = Self {
            client,
            name: name.to_owned(),
        };
        (browser, driver)
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Runs `script` (a function body; `arguments[0]`, ... are `args`) in the page.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Waits until `script` answers something other than `null` or `false`, and answers it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script, Vec::new()).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "not within {DEADLINE:?}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the first element `css` selects, once it is there.
    pub async fn click(&self, css: &str) {
        self.until(
            &format!("{css} to click"),
            &format!("return document.querySelector({css:?}) !== null"),
        )
        .await;
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Types `text` into the element `css` selects (WebDriver keys: `\u{E007}` is Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// The visible text of the page's body.
    pub async fn text(&self) -> String {
        let value = self.run("return document.body.innerText", Vec::new()).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Sends the DevTools command `command` with `params` (through chromedriver); answers its
    /// result.
    pub async fn devtools(&self, command: &str, params: Value) -> Value {
        let command = DevTools {
            body: json!({ "cmd": command, "params": params }),
        };
        self.client.issue_cmd(command).await.unwrap()
    }

    /// Saves a screenshot of the page as `<test>-<view>.png`.
    pub async fn shot(&self, view: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{}-{view}.png", self.name)), png).unwrap();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A DevTools command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    body: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
