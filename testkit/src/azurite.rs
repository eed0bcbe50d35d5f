//! Azurite, Microsoft's Azure Storage emulator (`azurite-blob`, installed
//! by `scripts/test` with npm), on a free port, holding its blobs in memory.

use crate::server::{Running, free_port};
use afterlog_reader::{Store, StoreConfig, open};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

/// The emulator's one account and its well-known key (published in
/// Azurite's documentation; it signs requests to loopback only).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub const INSTALL: &str = "npm install -g azurite@3.37.0";

/// `azurite-blob` on a free port, killed on drop.
pub struct AzuriteServer {
    server: Running,
}

impl AzuriteServer {
    /// Starts the emulator holding the empty `containers`.
    pub fn start(containers: &[&str]) -> AzuriteServer {
        let port = free_port();
        let mut cmd = Command::new("azurite-blob");
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck"]);
        let server = Running::spawn("azurite-blob", cmd, port, INSTALL);
        let az = AzuriteServer { server };
        for c in containers {
            az.create_container(c);
        }
        az
    }

    /// The account's URL, path style: `http://127.0.0.1:<port>/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("{}/{ACCOUNT}", self.server.endpoint())
    }

    /// How to reach `url` (`az://container[/prefix]`) on this emulator.
    pub fn store_config(&self, url: &str) -> StoreConfig {
        StoreConfig {
            endpoint: Some(self.endpoint()),
            account: Some(ACCOUNT.into()),
            account_key: Some(ACCOUNT_KEY.into()),
            ..StoreConfig::new(url)
        }
    }

    /// `url` (`az://container[/prefix]`) on this emulator, as a store.
    pub fn store(&self, url: &str) -> Store {
        open(&self.store_config(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"))
    }

    /// Creates a container with a request signed with the account's key
    /// (object_store has no call for it).
    fn create_container(&self, name: &str) {
        let version = "2021-08-06";
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        // Shared Key: the verb, eleven empty standard headers, the x-ms-
        // headers, then the resource (path style: the account twice).
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n\
             /{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = STANDARD.decode(ACCOUNT_KEY).expect("the key is base64");
        let signature = STANDARD.encode(hmac_sha256(&key, to_sign.as_bytes()));
        let request = format!(
            "PUT /{ACCOUNT}/{name}?restype=container HTTP/1.1\r\n\
             Host: 127.0.0.1:{port}\r\n\
             x-ms-date: {date}\r\n\
             x-ms-version: {version}\r\n\
             Authorization: SharedKey {ACCOUNT}:{signature}\r\n\
             Content-Length: 0\r\n\
             Connection: close\r\n\r\n",
            port = self.server.port
        );
        let mut conn = TcpStream::connect(("127.0.0.1", self.server.port)).expect("connect");
        conn.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read the answer");
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "creating container {name}: {answer}"
        );
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    /// RFC 4231, test case 2.
    #[test]
    fn hmac_sha256_matches_the_rfc() {
        let mac = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
