//! nginx (Debian's package) with the shipped site, `deploy/nginx/ljwx-bigscreen.conf`, in
//! front of instances of the test's own.

use super::{configured_program, eventually};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The shipped site, rendered for a test.
const SITE: &str = include_str!("../../../deploy/nginx/ljwx-bigscreen.conf");

/// An nginx of the test's own; stopped when dropped.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Nginx {
    /// nginx listening on `127.0.0.1:port` with the shipped site, its upstream being the
    /// instances on `upstreams`; `None` when nginx is not installed (a failure under CI).
    pub async fn start(port: u16, upstreams: &[u16]) -> Option<Nginx> {
        let nginx = configured_program("/usr/sbin/nginx", "the topology tests")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().display().to_string();
        std::fs::write(dir.path().join("site.conf"), site(port, upstreams, &path))
            .expect("write site");
        // As root, nginx's workers would switch to a user that cannot write the temp dir.
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let main = format!(
            "{user}worker_processes 2;\ndaemon off;\npid {path}/nginx.pid;\n\
             error_log {path}/main-error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  client_body_temp_path {path}/body;\n  proxy_temp_path {path}/proxy;\n  \
             fastcgi_temp_path {path}/fastcgi;\n  uwsgi_temp_path {path}/uwsgi;\n  \
             scgi_temp_path {path}/scgi;\n  include {path}/site.conf;\n}}\n",
            user = if root { "user root;\n" } else { "" },
        );
        std::fs::write(dir.path().join("nginx.conf"), main).expect("write nginx.conf");
        let child = Command::new(nginx)
            .args(["-p", &path, "-c", &format!("{path}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let url = format!("{}/health", nginx.base);
        eventually("nginx listens", Duration::from_secs(10), async || {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            client.get(&url).send().await.is_ok()
        })
        .await;
        Some(nginx)
    }

    /// nginx's error logs (the main one and the site's).
    pub fn error_log(&self) -> String {
        ["main-error.log", "ljwx-bigscreen-error.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self.dir.path().join(name)).ok())
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers, which would outlive it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The shipped site with its listen port, upstream servers and log directory replaced; each
/// replacement must match, so a change to the site that the test does not follow fails it.
fn site(port: u16, upstreams: &[u16], logs: &str) -> String {
    let mut out = String::new();
    let (mut listen, mut upstream) = (false, false);
    for line in SITE.lines() {
        let trimmed = line.trim_start();
        if let Some(server) = trimmed.strip_prefix("server 127.0.0.1:") {
            // The shipped parameters (max_fails, fail_timeout) on every test instance.
            let params = server.split_once(' ').map_or(";", |(_, params)| params);
            if !upstream {
                for p in upstreams {
                    out.push_str(&format!("    server 127.0.0.1:{p} {params}\n"));
                }
                upstream = true;
            }
            continue;
        }
        if trimmed == "listen 80;" {
            out.push_str(&format!("    listen 127.0.0.1:{port};\n"));
            listen = true;
            continue;
        }
        out.push_str(&line.replace("/var/log/nginx", logs));
        out.push('\n');
    }
    assert!(
        listen && upstream,
        "the shipped site changed: update the test"
    );
    out
}
