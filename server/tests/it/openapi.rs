//! The OpenAPI document covers every route of the router, and its error bodies.

use serde_json::Value;
use yoi_registry_core::{RuntimeKind, RuntimeStatus, WorkerState};

use crate::support::backend;

#[tokio::test]
async fn the_document_covers_every_route_and_error_body() {
    let backend = backend().await;
    let (status, document) = backend.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let worker = "/api/runtimes/{runtime_id}/workers/{worker_id}";
    let routes = [
        ("/api/runtimes", vec!["get"]),
        ("/api/runtimes/{runtime_id}", vec!["get"]),
        ("/api/events", vec!["get"]),
        ("/api/runtimes/{runtime_id}/workers", vec!["get", "post"]),
        (worker, vec!["get"]),
        (&format!("{worker}/input"), vec!["post"]),
        (&format!("{worker}/stop"), vec!["post"]),
        (&format!("{worker}/cancel"), vec!["post"]),
        (&format!("{worker}/transcript"), vec!["get"]),
        (&format!("{worker}/events"), vec!["get"]),
        ("/api/workers", vec!["get"]),
        ("/api/hosts", vec!["get"]),
    ];
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), routes.len(), "{:?}", paths.keys());
    for (path, methods) in routes {
        let item = &paths[path];
        for method in methods {
            let responses = item[method]["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            // Every route is also actually routed (not 404 not_found / 405).
            let url = backend.url(
                &path
                    .replace("{runtime_id}", "alpha")
                    .replace("{worker_id}", "w1"),
            );
            let request = match method {
                "get" => backend.client.get(url),
                _ => backend.client.post(url),
            };
            let answer = request.send().await.unwrap();
            // A stream is routed; its body does not end.
            let content_type = answer.headers().get("content-type");
            let streams = content_type.is_some_and(|value| value == "text/event-stream");
            if streams {
                assert_eq!(answer.status(), 200, "{method} {path}");
                continue;
            }
            let body: Value = answer.json().await.unwrap_or_default();
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                !["not_found", "method_not_allowed"].contains(&code.as_str()),
                "{method} {path}"
            );
        }
    }
    let schemas = &document["components"]["schemas"];
    let enums = [
        (
            "RuntimeBody",
            "kind",
            values(&[
                RuntimeKind::Embedded,
                RuntimeKind::RemoteHttp,
                RuntimeKind::LocalCompatibility,
            ]),
        ),
        (
            "RuntimeBody",
            "status",
            values(&[
                RuntimeStatus::Available,
                RuntimeStatus::Degraded,
                RuntimeStatus::Unavailable,
            ]),
        ),
        (
            "WorkerBody",
            "status",
            values(&[
                WorkerState::Idle,
                WorkerState::Running,
                WorkerState::Stopped,
                WorkerState::Active,
                WorkerState::MetadataOnly,
            ]),
        ),
    ];
    for (schema, field, expected) in enums {
        let listed = &schemas[schema]["properties"][field]["enum"];
        assert_eq!(listed, &Value::from(expected), "{schema}.{field}");
    }
}

/// The JSON names of `variants`.
fn values<T: serde::Serialize>(variants: &[T]) -> Vec<String> {
    variants
        .iter()
        .map(|variant| {
            serde_json::to_value(variant)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}
