//! bedkey's own environment variables, each with what it does: the one list that
//! `bedkey man` shows and the docs follow.

/// `(name, what it does)`, in the order a person meets them.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "BEDKEY_CONFIG_DIR",
        "the directory of bedkey's key list (as --config-dir); default the platform's config dir + /bedkey",
    ),
    (
        "BEDKEY_STORE",
        "where new keys' secrets go (as --store): auto, keyring, keyutils or file",
    ),
    (
        "BEDKEY_PASSPHRASE",
        "the file store's passphrase; taken out of bedkey's environment at start, never passed on",
    ),
    (
        "BEDKEY_MIN_TTL",
        "refresh a short-term key when less than this remains (default 5m; 0s to 12h), capped at half the key's lifetime",
    ),
    (
        "BEDKEY_SHARED_TTL",
        "read a shared or published key's secret again when the copy here is older than this (default 1h; 0s to 30d)",
    ),
    (
        "BEDKEY_AWS_TIMEOUT",
        "the most one AWS call may take, retries included (default 30s; it may only be shorter)",
    ),
    (
        "BEDKEY_KEYRING_TIMEOUT",
        "seconds a keyring call may take (default 3; a write at a terminal waits 60 for an unlock)",
    ),
    (
        "BEDKEY_REFRESH_BEFORE",
        "for the shell code of `bedkey init`: refresh the key this many seconds before it expires (default 300)",
    ),
    (
        "BEDKEY_KEY_EXPIRES_AT",
        "set by `bedkey env --export-expiry` (and `init`): when the exported key stops working, in seconds since the epoch",
    ),
];
