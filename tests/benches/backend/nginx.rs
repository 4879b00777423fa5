//! Debian's nginx as the general-purpose proxy to compare with: `proxy_pass` to one runtime over
//! upstream keep-alive connections, with its default access log, started in a folder of its own.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where Debian's package puts the binary.
const NGINX: &str = "/usr/sbin/nginx";

/// How long nginx may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A running nginx (master and workers), stopped on drop.
pub(crate) struct Nginx {
    master: std::process::Child,
    /// Where it listens.
    pub(crate) address: SocketAddr,
}

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM), so that the master stops its workers before it exits; a
    /// killed master would leave them running.
    fn drop(&mut self) {
        let master = Pid::from_raw(i32::try_from(self.master.id()).expect("a pid fits i32"));
        if kill(master, Signal::SIGTERM).is_err() {
            let _ = self.master.kill();
        }
        let _ = self.master.wait();
    }
}

impl Nginx {
    /// The master's and its workers' process ids.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let master = self.master.id();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        std::iter::once(master)
            .chain(
                children
                    .split_whitespace()
                    .filter_map(|pid| pid.parse().ok()),
            )
            .collect()
    }
}

/// Whether nginx is installed (`scripts/bench-tools` installs it).
pub(crate) fn installed() -> bool {
    Path::new(NGINX).exists()
}

/// Starts nginx in `dir`, proxying every path to `upstream`.
pub(crate) fn start(dir: &Path, upstream: SocketAddr) -> Nginx {
    let address = free_port();
    let prefix: PathBuf = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).expect("nginx's folder can be made");
    let config = prefix.join("nginx.conf");
    std::fs::write(&config, config_text(&prefix, address, upstream)).expect("nginx.conf");
    let master = Command::new(NGINX)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {NGINX}: {error}"));
    let nginx = Nginx { master, address };
    let started = Instant::now();
    while std::net::TcpStream::connect(address).is_err() {
        assert!(
            started.elapsed() < START_LIMIT,
            "nginx did not listen on {address}; see {}",
            prefix.join("logs/error.log").display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nginx
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound")
}

/// One worker per core, in the foreground; connections on both sides kept alive and reused
/// (not closed after nginx's default of 1,000 requests).
fn config_text(prefix: &Path, address: SocketAddr, upstream: SocketAddr) -> String {
    let prefix = prefix.display();
    format!(
        "daemon off;
user root;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log {prefix}/logs/access.log;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream runtime {{
        server {upstream};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen {address};
        location / {{
            proxy_pass http://runtime;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
    )
}
