//! The adapters this build registers through `inventory`.

use yoi_adapters as _;

/// Every adapter with whether this build enables its feature.
const FEATURES: [(&str, bool); 3] = [
    ("embedded", cfg!(feature = "embedded")),
    ("http-client", cfg!(feature = "http-client")),
    ("local-pod-compat", cfg!(feature = "local-pod-compat")),
];

#[test]
fn the_registered_adapters_are_exactly_the_enabled_features() {
    let names: Vec<&str> = FEATURES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        yoi_adapters::ADAPTER_NAMES,
        "every adapter has a row here"
    );
    let enabled: Vec<&str> = FEATURES
        .iter()
        .filter(|(_, enabled)| *enabled)
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(yoi_adapters::enabled_adapters().unwrap(), enabled);
}

#[test]
fn unknown_adapters_are_explained() {
    let error = yoi_adapters::find("gpu").err().unwrap();
    assert!(
        error.starts_with("unknown adapter `gpu`; this build has: "),
        "{error}"
    );
}
