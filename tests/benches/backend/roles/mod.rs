//! The servers the harness runs in child processes of its own.

mod backend;
mod bare;
mod runtime;

pub(crate) use runtime::Counts;

use crate::cli::Role;

/// The token between the Backend (or the harness, or nginx's clients) and every runtime.
pub(crate) const RUNTIME_TOKEN: &str = "bench-runtime-token";

/// The environment variable the Backend's workspace.toml reads the runtime token from.
pub(crate) const TOKEN_VAR: &str = "YOI_BENCH_RUNTIME_TOKEN";

/// Serves `role` until the process is killed.
pub(crate) fn run(role: Role) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    tokio.block_on(async move {
        match role {
            Role::Runtime {
                count,
                work_us,
                openai,
                tls,
                data_dir,
                chunk_chars,
                retained_events,
            } => {
                let served = runtime::Served {
                    openai: openai.as_deref(),
                    tls: tls.as_deref(),
                    data_dir: data_dir.as_deref(),
                    chunk_chars,
                    retained_events,
                };
                runtime::serve(count, work_us, served).await;
            }
            Role::Backend { config } => backend::serve(&config).await,
            Role::Bare { body } => bare::serve(&body).await,
        }
    });
}

/// Binds a fresh port on 127.0.0.1.
async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("127.0.0.1 has a free port")
}
