//! The console's files through HTTP: the page at each of its paths and its assets, with the
//! security headers, served without the browser token while every `/api` route needs it; a
//! revalidation answered `304`; an unknown asset refused in the API's error format.

use worker_runtime::http::BearerToken;

use crate::support::{WORKSPACE, backend_with};

/// `GET path` with `headers`: status, headers and body.
async fn get(
    client: &reqwest::Client,
    url: String,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_page_and_its_files_are_served_without_the_token_with_a_strict_policy() {
    let token = BearerToken::new("browser-secret").unwrap();
    let backend = backend_with(WORKSPACE, |options| options.token = Some(token)).await;
    let client = &backend.client;
    for path in ["/", "/runtimes/alpha/workers", "/runtimes/alpha/workers/w1"] {
        let (status, headers, body) = get(client, backend.url(path), &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(
            body.contains(r#"<script type="module" src="/assets/js/main.js">"#),
            "{body}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    for (path, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/js/views/console.js", "text/javascript"),
    ] {
        let (status, headers, body) = get(client, backend.url(path), &[]).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(!body.is_empty());
        // Revalidating the same version costs no body.
        let tag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, body) = get(client, backend.url(path), &[("if-none-match", &tag)]).await;
        assert_eq!((status, body.as_str()), (304, ""), "{path}");
    }
    // No file names a host, a URL or a path of this machine.
    for path in [
        "/",
        "/assets/app.css",
        "/assets/js/main.js",
        "/assets/js/api.js",
        "/assets/js/stream.js",
        "/assets/js/views/console.js",
    ] {
        let (_, _, body) = get(client, backend.url(path), &[]).await;
        for leak in [
            "http://",
            "https://",
            "127.0.0.1",
            "localhost",
            env!("CARGO_MANIFEST_DIR"),
        ] {
            assert!(!body.contains(leak), "{leak} in {path}");
        }
    }
    let (status, _, body) = get(client, backend.url("/assets/js/missing.js"), &[]).await;
    assert_eq!(status, 404);
    assert!(body.contains(r#""code":"not_found""#), "{body}");
    // The page holds no data; the API it calls still needs the token.
    let (status, _, _) = get(client, backend.url("/api/runtimes"), &[]).await;
    assert_eq!(status, 401);
}
