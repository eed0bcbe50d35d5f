//! What a store URL names: a local directory, or a bucket (a container on
//! Azure) of one of the clouds and a prefix inside it.

/// The cloud whose object store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// `s3://`: AWS S3 and S3-compatible servers.
    S3,
    /// `gs://`: Google Cloud Storage.
    Gcs,
    /// `az://`: Azure Blob Storage (the bucket is a container).
    Azure,
}

impl Cloud {
    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        }
    }
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location<'a> {
    /// `file:///abs/path`.
    Directory(&'a str),
    /// `s3://`, `gs://` or `az://` `bucket[/prefix]`; the prefix without
    /// its surrounding slashes, empty for the whole bucket.
    Bucket {
        cloud: Cloud,
        bucket: &'a str,
        prefix: &'a str,
    },
}

/// The schemes a store URL may have, as the URL forms an error shows.
pub const FORMS: &str =
    "file:///absolute/path, s3://bucket[/prefix], gs://bucket[/prefix] or az://container[/prefix]";

/// `url` parsed; `None` for anything else than [`FORMS`] (a relative path,
/// a missing bucket, an unknown scheme).
pub fn parse(url: &str) -> Option<Location<'_>> {
    if let Some(path) = url.strip_prefix("file://") {
        return path.starts_with('/').then_some(Location::Directory(path));
    }
    let (scheme, rest) = url.split_once("://")?;
    let cloud = [Cloud::S3, Cloud::Gcs, Cloud::Azure]
        .into_iter()
        .find(|c| c.scheme() == scheme)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some(Location::Bucket {
        cloud,
        bucket,
        prefix: prefix.trim_matches('/'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(parse("file:///a/b"), Some(Location::Directory("/a/b")));
        for (url, cloud, bucket, prefix) in [
            ("s3://logs", Cloud::S3, "logs", ""),
            ("s3://logs/", Cloud::S3, "logs", ""),
            ("gs://logs/some/prefix/", Cloud::Gcs, "logs", "some/prefix"),
            ("az://container/p", Cloud::Azure, "container", "p"),
        ] {
            assert_eq!(
                parse(url),
                Some(Location::Bucket {
                    cloud,
                    bucket,
                    prefix
                }),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_what_names_no_store() {
        for url in [
            "",
            "/abs",
            "file://rel/path",
            "s3://",
            "gs://",
            "az://",
            "gs:///prefix",
            "az:///prefix",
            "http://x/y",
            "abfs://c/p",
            "gcs://b",
        ] {
            assert_eq!(parse(url), None, "{url}");
        }
    }
}
