//! The AWS profile in effect. Both the credential chain (`aws`) and the region in
//! effect (`region`) read the shared files with it, so it sits below both.

/// The profile the shared files are read with: `--profile`, else `AWS_PROFILE`, else
/// `default`.
pub fn name(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_string())
}
