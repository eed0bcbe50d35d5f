//! How each cloud's client is configured: first what its SDKs read from the
//! environment (the same variables object_store's `from_env` builders
//! take, so that credentials come as the platform provides them: session
//! tokens, web identity and workload identity token files, container and
//! instance metadata), then [`StoreConfig`]'s explicit values on top.
//!
//! Pure: the environment is passed in, so that tests need not change the
//! process's (which every test thread shares).

use super::StoreConfig;
use object_store::aws::AmazonS3ConfigKey as S3Key;
use object_store::azure::AzureConfigKey as AzKey;
use object_store::gcp::GoogleConfigKey as GcsKey;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Environment variables, as the process has them or as a test gives them.
/// Empty values count as unset.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The variables starting with `prefix` that name a setting of `K`
    /// (parsed lowercased, as object_store's `from_env` does).
    fn settings<K: FromStr>(&self, prefix: &str) -> Vec<(K, String)> {
        self.0
            .iter()
            .filter(|(k, v)| k.starts_with(prefix) && !v.is_empty())
            .filter_map(|(k, v)| Some((k.to_ascii_lowercase().parse().ok()?, v.clone())))
            .collect()
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Env {
    fn from(vars: [(&str, &str); N]) -> Env {
        Env(vars
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

/// Settings in the order they are applied: a later one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings<K>(pub Vec<(K, String)>);

impl<K: PartialEq + Copy> Settings<K> {
    /// These settings but those `ours` names (set explicitly elsewhere).
    pub fn without(self, ours: impl Fn(&K) -> bool) -> Settings<K> {
        Settings(self.0.into_iter().filter(|(k, _)| !ours(k)).collect())
    }

    /// What `key` ends up set to.
    pub fn get(&self, key: K) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: K, value: impl Into<String>) {
        self.0.push((key, value.into()));
    }

    fn remove(&mut self, key: K) {
        self.0.retain(|(k, _)| *k != key);
    }
}

/// An S3 store's settings: `AWS_*` (static keys and `AWS_SESSION_TOKEN`,
/// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, the ECS and EKS Pod
/// Identity container credentials, `AWS_REGION`, `AWS_ENDPOINT_URL`…),
/// then the config's. Keys given in the config replace the environment's
/// and its session token, which belongs to the environment's key.
pub fn s3(cfg: &StoreConfig, bucket: &str, env: &Env) -> Settings<S3Key> {
    let mut s = Settings(env.settings("AWS_"));
    s.set(S3Key::Bucket, bucket);
    if let Some(region) = &cfg.region {
        s.set(S3Key::Region, region);
    }
    if let Some(endpoint) = &cfg.endpoint {
        s.set(S3Key::Endpoint, endpoint);
    }
    if let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) {
        s.remove(S3Key::Token);
        s.set(S3Key::AccessKeyId, id);
        s.set(S3Key::SecretAccessKey, secret);
    }
    s.set(
        S3Key::VirtualHostedStyleRequest,
        (!cfg.path_style).to_string(),
    );
    if cfg.skip_signature {
        s.set(S3Key::SkipSignature, "true");
    }
    s
}

/// A GCS store's settings: `SERVICE_ACCOUNT` and `GOOGLE_*` (a service
/// account file or key, `GOOGLE_APPLICATION_CREDENTIALS`), then the
/// config's; with none of them, the client asks the metadata server (GCE,
/// GKE Workload Identity) at request time.
pub fn gcs(cfg: &StoreConfig, bucket: &str, env: &Env) -> Settings<GcsKey> {
    let mut s = Settings(Vec::new());
    if let Some(path) = env.get("SERVICE_ACCOUNT") {
        s.set(GcsKey::ServiceAccount, path);
    }
    s.0.extend(env.settings("GOOGLE_"));
    s.set(GcsKey::Bucket, bucket);
    if let Some(endpoint) = &cfg.endpoint {
        s.set(GcsKey::BaseUrl, endpoint);
    }
    if cfg.skip_signature {
        s.set(GcsKey::SkipSignature, "true");
    }
    s
}

/// An Azure store's settings: `AZURE_*` (the storage account's name and
/// key, a SAS, a client secret, workload identity's
/// `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_CLIENT_ID` + `AZURE_TENANT_ID`)
/// and `IDENTITY_ENDPOINT` (managed identity), then the config's.
pub fn azure(cfg: &StoreConfig, container: &str, env: &Env) -> Settings<AzKey> {
    let mut s = Settings(env.settings("AZURE_"));
    if let Some(endpoint) = env.get("IDENTITY_ENDPOINT") {
        s.set(AzKey::MsiEndpoint, endpoint);
    }
    s.set(AzKey::ContainerName, container);
    if let Some(account) = &cfg.account {
        s.set(AzKey::AccountName, account);
    }
    if let Some(key) = &cfg.account_key {
        s.set(AzKey::AccessKey, key);
        // The builder prefers a bearer token or a SAS from the environment
        // to any key; a key the admin names explicitly must be the one used.
        s.set(AzKey::CredentialType, "access_key");
    }
    if let Some(endpoint) = &cfg.endpoint {
        s.set(AzKey::Endpoint, endpoint);
    }
    if cfg.skip_signature {
        s.set(AzKey::SkipSignature, "true");
    }
    s
}

/// Whether `endpoint` is plain HTTP on this machine (a local test server),
/// which is allowed without asking.
pub fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo would let `http://127.0.0.1@example.org` pass a prefix test.
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> StoreConfig {
        StoreConfig::new(url)
    }

    #[test]
    fn s3_takes_a_session_token_from_the_environment() {
        let env = Env::from([
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_REGION", "eu-west-1"),
            ("HOME", "/root"),
        ]);
        let s = s3(&cfg("s3://b"), "b", &env);
        assert_eq!(s.get(S3Key::AccessKeyId), Some("ASIAEXAMPLE"));
        assert_eq!(s.get(S3Key::SecretAccessKey), Some("secret"));
        assert_eq!(s.get(S3Key::Token), Some("token"));
        assert_eq!(s.get(S3Key::Region), Some("eu-west-1"));
        assert_eq!(s.get(S3Key::Bucket), Some("b"));
    }

    #[test]
    fn s3_takes_web_identity_and_container_credentials() {
        let env = Env::from([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/afterlog"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/eks"),
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/x",
            ),
        ]);
        let s = s3(&cfg("s3://b"), "b", &env);
        assert_eq!(
            s.get(S3Key::WebIdentityTokenFile),
            Some("/var/run/secrets/token")
        );
        assert_eq!(s.get(S3Key::RoleArn), Some("arn:aws:iam::1:role/afterlog"));
        assert_eq!(
            s.get(S3Key::ContainerCredentialsFullUri),
            Some("http://169.254.170.23/v1/credentials")
        );
        assert_eq!(
            s.get(S3Key::ContainerAuthorizationTokenFile),
            Some("/var/run/eks")
        );
        assert_eq!(
            s.get(S3Key::ContainerCredentialsRelativeUri),
            Some("/v2/credentials/x")
        );
        assert_eq!(s.get(S3Key::AccessKeyId), None);
    }

    #[test]
    fn s3_config_overrides_the_environment() {
        let env = Env::from([
            ("AWS_ACCESS_KEY_ID", "env-key"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://env:9000"),
            ("AWS_ROLE_ARN", ""),
        ]);
        let c = StoreConfig {
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            region: Some("us-east-2".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..cfg("s3://b")
        };
        let s = s3(&c, "b", &env);
        assert_eq!(s.get(S3Key::AccessKeyId), Some("k"));
        assert_eq!(s.get(S3Key::SecretAccessKey), Some("s"));
        assert_eq!(s.get(S3Key::Token), None, "the token was the env key's");
        assert_eq!(s.get(S3Key::Region), Some("us-east-2"));
        assert_eq!(s.get(S3Key::Endpoint), Some("http://127.0.0.1:9000"));
        assert_eq!(s.get(S3Key::RoleArn), None, "empty is unset");
        assert_eq!(s.get(S3Key::VirtualHostedStyleRequest), Some("false"));
        let s = s3(&cfg("s3://b"), "b", &env);
        assert_eq!(s.get(S3Key::Endpoint), Some("http://env:9000"));
    }

    #[test]
    fn gcs_takes_service_accounts_and_application_credentials() {
        let env = Env::from([
            ("SERVICE_ACCOUNT", "/sa.json"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/adc.json"),
            ("GOOGLE_SERVICE_ACCOUNT_KEY", "{}"),
            ("AWS_ACCESS_KEY_ID", "not for gcs"),
        ]);
        let s = gcs(&cfg("gs://b"), "b", &env);
        assert_eq!(s.get(GcsKey::ServiceAccount), Some("/sa.json"));
        assert_eq!(s.get(GcsKey::ApplicationCredentials), Some("/adc.json"));
        assert_eq!(s.get(GcsKey::ServiceAccountKey), Some("{}"));
        assert_eq!(s.get(GcsKey::Bucket), Some("b"));
        assert_eq!(s.0.len(), 4, "{s:?}");
        let c = StoreConfig {
            endpoint: Some("http://127.0.0.1:4443".into()),
            skip_signature: true,
            ..cfg("gs://b")
        };
        let s = gcs(&c, "b", &Env::default());
        assert_eq!(s.get(GcsKey::BaseUrl), Some("http://127.0.0.1:4443"));
        assert_eq!(s.get(GcsKey::SkipSignature), Some("true"));
    }

    #[test]
    fn azure_takes_workload_identity_and_managed_identity() {
        let env = Env::from([
            ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
            ("AZURE_CLIENT_ID", "client"),
            ("AZURE_TENANT_ID", "tenant"),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
            ("IDENTITY_ENDPOINT", "http://169.254.169.254/msi"),
        ]);
        let s = azure(&cfg("az://c"), "c", &env);
        assert_eq!(s.get(AzKey::AccountName), Some("acct"));
        assert_eq!(s.get(AzKey::ClientId), Some("client"));
        assert_eq!(s.get(AzKey::AuthorityId), Some("tenant"));
        assert_eq!(
            s.get(AzKey::FederatedTokenFile),
            Some("/var/run/secrets/azure/tokens/azure-identity-token")
        );
        assert_eq!(
            s.get(AzKey::AuthorityHost),
            Some("https://login.microsoftonline.com/")
        );
        assert_eq!(
            s.get(AzKey::MsiEndpoint),
            Some("http://169.254.169.254/msi")
        );
        assert_eq!(s.get(AzKey::ContainerName), Some("c"));
    }

    #[test]
    fn azure_config_overrides_the_environment() {
        let env = Env::from([
            ("AZURE_STORAGE_ACCOUNT_NAME", "env-acct"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "env-key"),
            ("AZURE_STORAGE_SAS_KEY", "sv=2021"),
        ]);
        let c = StoreConfig {
            account: Some("acct".into()),
            account_key: Some("key".into()),
            endpoint: Some("http://127.0.0.1:10000/acct".into()),
            ..cfg("az://c")
        };
        let s = azure(&c, "c", &env);
        assert_eq!(s.get(AzKey::AccountName), Some("acct"));
        assert_eq!(s.get(AzKey::AccessKey), Some("key"));
        assert_eq!(s.get(AzKey::SasKey), Some("sv=2021"));
        // …which the builder would prefer to the key without this.
        assert_eq!(s.get(AzKey::CredentialType), Some("access_key"));
        assert_eq!(s.get(AzKey::Endpoint), Some("http://127.0.0.1:10000/acct"));
    }

    #[test]
    fn loopback_http_is_told_apart() {
        for e in [
            "http://127.0.0.1:9000",
            "http://localhost:10000/a",
            "http://[::1]:1",
        ] {
            assert!(is_loopback_http(e), "{e}");
        }
        for e in [
            "https://127.0.0.1",
            "http://10.0.0.1",
            "http://minio:9000",
            "http://127.0.0.1.example.org:9000",
            "http://localhost.example.org",
            "http://127.0.0.1@example.org/",
            "http://[::2]:1",
        ] {
            assert!(!is_loopback_http(e), "{e}");
        }
    }
}
