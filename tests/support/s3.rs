//! A local S3-compatible server (moto, `hack/s3-server.sh`) on 127.0.0.1, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct S3Server {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl S3Server {
    /// Start on a free port. Panics with the script's output and how to install moto when it
    /// cannot start: an S3 test never passes without its server.
    pub fn start() -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
        S3Server::start_on(port)
    }

    /// Start on `port` (again, after [`S3Server::stop`]: the same endpoint comes back, empty,
    /// as moto keeps its objects in memory).
    pub fn start_on(port: u16) -> S3Server {
        match spawn(port) {
            Ok(child) => S3Server { child, port, endpoint: format!("http://127.0.0.1:{port}") },
            Err(why) => panic!(
                "the local S3 server (hack/s3-server.sh, moto) could not be started; install it with \
                 `hack/s3-server.sh --install`.\n{why}"
            ),
        }
    }

    /// Kill the server (SIGKILL) and wait until its port is closed.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Create `bucket` (moto needs no credentials for that).
    pub async fn create_bucket(&self, bucket: &str) {
        let resp = reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.unwrap();
        assert!(resp.status().is_success(), "create bucket {bucket}: {}", resp.status());
    }
}

fn spawn(port: u16) -> Result<Child, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/s3-server.sh");
    let log = std::env::temp_dir().join(format!("nflbet-s3-server-{port}.log"));
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new("bash")
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    // Generous: the first run may install moto from PyPI.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{script} exited with {status} before listening:\n{text}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{script} did not listen on 127.0.0.1:{port} within 180 s:\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Options for a store on a local S3 server at `endpoint`: its test credentials, and the
/// loopback allowed explicitly (the server is on 127.0.0.1 over plain http).
pub fn options(endpoint: &str) -> nflbet::feed::snapshot::S3Options {
    nflbet::feed::snapshot::S3Options {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
        egress: super::loopback_egress(),
    }
}
