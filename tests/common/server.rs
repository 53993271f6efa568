//! A real `kgqa serve` on a real port, and a minimal HTTP/1.1 client for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `kgqa serve`, stopped (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// Kept open for as long as the server runs, so that it never writes into a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    /// Starts `kgqa serve --addr 127.0.0.1:0 ARGS...` (embedded graph, shipped student
    /// unless ARGS say otherwise) and waits for the line that names its port.
    pub fn start(args: &[&str]) -> Server {
        Self::start_logging(args, Stdio::inherit())
    }

    /// [`Server::start`] with the server's log (stderr) sent to `log`.
    pub fn start_logging(args: &[&str], log: impl Into<Stdio>) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kgqa"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("KGQA_STORE")
            .env_remove("KGQA_MODEL")
            .stdout(Stdio::piped())
            .stderr(log.into())
            .spawn()
            .expect("kgqa serve starts");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        stdout.read_line(&mut line).expect("reading the server's first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server { child, _stdout: stdout, addr }
    }

    /// Sends one request and reads the whole response.
    pub fn request(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the response");
        Reply::parse(&raw)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, "text/plain", b"")
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request("POST", path, "application/json", body.to_string().as_bytes())
    }
}

impl Server {
    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().expect("the server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = raw[split + 4..].to_vec();
        // Every response of the server has a known length; a chunked one would be a change
        // this client (and the tests) should hear about.
        assert!(
            !headers.iter().any(|(k, _)| k == "transfer-encoding"),
            "unexpected transfer-encoding: {headers:?}"
        );
        Reply { status, headers, body }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}
