//! What the agent tests share: the `[tls]` of the test servers ([`Certs`]: Polaris's own CA in
//! a temporary folder, the hosts' identities enrolled through the real API), a Polaris with
//! its HTTPS and agent listeners on 127.0.0.1:0 in the test's runtime, a small HTTPS client, and
//! a test agent speaking the real protocol over wss with its host's client certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use wire::CommandResult;
use wire::agent::{AgentMessage, CronRun, Request, ServerMessage};

/// The admin token of every test server.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// The CA folder the test's servers share (replicas share it) and the identities enrolled.
#[derive(Clone, Default)]
pub struct Certs(pub Arc<super::Tls>);

impl Certs {
    /// A new, empty CA folder: the first server makes its CA there.
    pub fn new() -> Certs {
        Certs::default()
    }
}

/// A Polaris serving HTTPS and agents in the current runtime; stopped when dropped.
pub struct Server {
    pub base: String,
    pub agents: SocketAddr,
    pub certs: Certs,
    enroller: devpki::Enroller,
    database: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// Starts a server on `database` with `[tls]` in the CA folder of `certs`, `[agents]` plus
    /// `extra` lines of that section; returns once it answers over HTTPS.
    pub async fn start(database: &str, certs: &Certs, extra: &str) -> Server {
        let text = format!(
            "admin_token = {TOKEN:?}\ndatabase = {database:?}\n{}[agents]\nheartbeat = 2\n{extra}\n",
            certs.0.section()
        );
        let config: polaris::config::Config = toml::from_str(&text).unwrap();
        config.check().unwrap();
        let state = polaris::app::state(config).await.expect("state");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let agents = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = http.local_addr().unwrap().to_string();
        let agents_addr = agents.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(polaris::app::serve(http, Some(agents), state, async {
            let _ = stopped.await;
        }));
        let enroller = certs.0.enroller(&addr, TOKEN);
        let server = Server {
            base: enroller.base.clone(),
            agents: agents_addr,
            certs: certs.clone(),
            enroller,
            database: database.to_string(),
            stop: Some(stop),
        };
        // Serving (its TLS configurations read) before another replica rewrites server.pem.
        let (status, _) = server.call("GET", "/api/v1/agents", None).await;
        assert_eq!(status, 200, "the server answers over HTTPS");
        server
    }

    /// `hostname` enrolled on this server's database (at its first use).
    pub async fn host(&self, hostname: &str) -> super::Host {
        let (certs, enroller) = (self.certs.clone(), self.enroller.clone());
        let (database, hostname) = (self.database.clone(), hostname.to_string());
        tokio::task::spawn_blocking(move || certs.0.host(&enroller, &database, &hostname))
            .await
            .unwrap()
    }

    /// An HTTPS exchange with the admin token; the body parsed as JSON.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent = self.certs.0.anonymous();
        self.exchange(agent, method, path, body, Some(TOKEN)).await
    }

    async fn exchange(
        &self,
        agent: ureq::Agent,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let method = method.to_owned();
        let auth = token.map(|token| format!("Bearer {token}"));
        tokio::task::spawn_blocking(move || {
            let mut response = match body {
                Some(body) if method == "POST" => {
                    let mut request = agent.post(&url).content_type("application/json");
                    if let Some(auth) = &auth {
                        request = request.header("Authorization", auth);
                    }
                    request.send(body.to_string())
                }
                _ => {
                    let mut request = agent.get(&url);
                    if let Some(auth) = &auth {
                        request = request.header("Authorization", auth);
                    }
                    request.call()
                }
            }
            .expect("HTTP exchange");
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
        .await
        .unwrap()
    }

    /// `POST /api/v1/plugins` with the multipart `parts` (name, bytes) and the admin token.
    pub async fn upload(&self, parts: Vec<(&'static str, Vec<u8>)>) -> (u16, Value) {
        let boundary = "polaris-test-boundary-7c1e";
        let mut body = Vec::new();
        for (name, bytes) in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let agent = self.certs.0.anonymous();
        let url = format!("{}/api/v1/plugins", self.base);
        tokio::task::spawn_blocking(move || {
            let mut response = agent
                .post(&url)
                .header("Authorization", format!("Bearer {TOKEN}"))
                .content_type(format!("multipart/form-data; boundary={boundary}"))
                .send(&body[..])
                .expect("HTTP exchange");
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
        .await
        .unwrap()
    }

    /// A file of the package server (basic auth as `user`), or the status it answered.
    pub async fn download(&self, url: &str, user: &str, password: &str) -> Result<Vec<u8>, u16> {
        use base64::Engine as _;
        let agent = self.certs.0.anonymous();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut response = agent
                .get(&url)
                .header("Authorization", format!("Basic {auth}"))
                .call()
                .expect("HTTP exchange");
            if response.status() != 200 {
                return Err(response.status().as_u16());
            }
            Ok(response
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .expect("read the file"))
        })
        .await
        .unwrap()
    }

    /// `POST /api/v1/commands`.
    pub async fn command(&self, body: Value) -> (u16, Value) {
        self.call("POST", "/api/v1/commands", Some(body)).await
    }

    /// Registers a host through the BootAgent protocol, with its client certificate (known,
    /// but no gearman connected).
    pub async fn boot_report(&self, hostname: &str) {
        let report = json!({"hostname": hostname, "version": "bootagent-1", "uptime": 1,
            "timestamp": 1, "step": 600, "agents": []});
        let agent = self.host(hostname).await.agent;
        let (status, reply) = self
            .exchange(agent, "POST", "/agent/status", Some(report), None)
            .await;
        assert_eq!(status, 200, "{reply}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A test agent: the real protocol over a real TLS WebSocket.
pub struct Agent {
    pub ws: WebSocketStream<TlsStream<TcpStream>>,
    seq: u64,
}

/// Connects over TLS (presenting `identity` when given, trusting only the Polaris CA) and
/// opens the WebSocket.
pub async fn connect(
    addr: SocketAddr,
    certs: &Certs,
    identity: Option<&devpki::Identity>,
) -> Result<Agent, String> {
    polaris::pki::tls::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(certs.0.ca()).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some(identity) => {
            let chain = CertificateDer::pem_file_iter(&identity.cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&identity.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("wss://localhost:{}{}", addr.port(), wire::agent::WS_PATH);
    let (ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Agent { ws, seq: 0 })
}

/// How long a test waits for a frame it expects (generous: this is not a speed test).
pub const PATIENCE: Duration = Duration::from_secs(20);

impl Agent {
    /// Connects to `server`'s agent listener with `hostname`'s certificate (enrolled at its
    /// first use) and sends `init`; returns the agent and the server's first answer.
    pub async fn init(server: &Server, hostname: &str) -> (Agent, ServerMessage) {
        let identity = server.host(hostname).await.identity;
        let mut agent = connect(server.agents, &server.certs, Some(&identity))
            .await
            .expect("connect");
        let answer = agent.hello(hostname).await;
        (agent, answer)
    }

    /// Connects, and expects `welcome`.
    pub async fn online(server: &Server, hostname: &str) -> Agent {
        let (agent, answer) = Agent::init(server, hostname).await;
        assert!(
            matches!(answer, ServerMessage::Welcome { heartbeat: 2 }),
            "{answer:?}"
        );
        agent
    }

    /// Sends `init`; returns the answer.
    pub async fn hello(&mut self, hostname: &str) -> ServerMessage {
        let init = AgentMessage::Init {
            hostname: hostname.into(),
            version: Some("gearman-test".into()),
        };
        self.send(&init).await;
        self.next().await.expect("an answer to init")
    }

    async fn send(&mut self, message: &AgentMessage) {
        let text = serde_json::to_string(message).unwrap();
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next JSON frame from the server, or `None` when the connection ends or nothing
    /// comes within [`PATIENCE`].
    pub async fn next(&mut self) -> Option<ServerMessage> {
        self.next_within(PATIENCE).await
    }

    /// The next JSON frame within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<ServerMessage> {
        let text = self.next_text(wait).await?;
        Some(ServerMessage::parse(&text).unwrap())
    }

    /// The next text frame as sent, within [`PATIENCE`].
    pub async fn next_text(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(text) => return Some(text.as_str().to_owned()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next command sent to this agent.
    pub async fn request(&mut self) -> Request {
        match self.next().await {
            Some(ServerMessage::Request(request)) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Sends a result with the next sequence number and waits for its ack.
    pub async fn answer(&mut self, result: CommandResult) {
        self.seq += 1;
        let seq = self.seq;
        self.send(&AgentMessage::Result { seq, result }).await;
        self.expect_ack(seq).await;
    }

    /// Sends the host's plugin inventory (never acked: the agent repeats it each heartbeat).
    pub async fn inventory(&mut self, inventory: &wire::plugins::PluginInventory) {
        let message = AgentMessage::Plugins {
            inventory: inventory.clone(),
        };
        self.send(&message).await;
    }

    /// Sends a cron run and waits for its ack.
    pub async fn cron_run(&mut self, run: CronRun) {
        self.seq += 1;
        let seq = self.seq;
        self.send(&AgentMessage::CronRun { seq, run }).await;
        self.expect_ack(seq).await;
    }

    async fn expect_ack(&mut self, seq: u64) {
        match self.next().await {
            Some(ServerMessage::Ack { seq: acked }) => assert_eq!(acked, seq),
            other => panic!("expected ack {seq}, got {other:?}"),
        }
    }
}

/// The success answer to `request` with `data`.
pub fn success(request: &Request, data: &str) -> CommandResult {
    let mut result = CommandResult::success(Value::String(data.into())).with_id(&request.id);
    result.exec.exit_status = Some(0);
    result
}

/// Retcodes of a command answer's entries, in order.
pub fn retcodes(answer: &Value) -> Vec<u64> {
    answer["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["retcode"].as_u64().unwrap())
        .collect()
}

/// Polls `GET /api/v1/commands/{id}` until `done` (or gives up after [`PATIENCE`]).
pub async fn until_done(server: &Server, id: &str) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let (status, body) = server
            .call("GET", &format!("/api/v1/commands/{id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if body["done"] == true || started.elapsed() > PATIENCE {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
