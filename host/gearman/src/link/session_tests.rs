//! The plugin inventory on a real WebSocket (plain TCP here; the TLS layer is the link's
//! business, not the session's): sent after connecting without being asked, again every
//! heartbeat and after a `plugin.*` command, and never ahead of the agent's answers when nodus
//! hangs.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use wire::agent::AgentMessage;
use wire::plugins::PluginAgent;

use super::serve;
use crate::agent::{Agent, AgentOptions};
use crate::bridge::AgentLink;
use crate::plugins::PluginOptions;
use crate::tasks::tests::test_exe;

type ServerSide = tokio_tungstenite::WebSocketStream<TcpStream>;

/// An agent without plugins whose nodus socket is `nodus`; the session runs with
/// `heartbeat`, and the test holds the server's end.
async fn connected(dir: &std::path::Path, heartbeat: Duration) -> ServerSide {
    let agent = Agent::open(AgentOptions {
        state_dir: dir.to_path_buf(),
        plugin_dir: dir.join("no-plugins"),
        exe: test_exe(dir),
        kill_grace: Duration::from_millis(500),
        plugins: PluginOptions {
            nodus_socket: dir.join("nodus.sock"),
            nodus_plugin_dir: dir.join("nodus-plugins"),
            release_key: None,
            downloads: Default::default(),
        },
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let tcp = TcpStream::connect(address).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{address}/agent/ws"), tcp)
            .await
            .unwrap();
        serve(ws, std::sync::Arc::new(AgentLink(agent)), heartbeat).await;
    });
    let (tcp, _) = listener.accept().await.unwrap();
    tokio_tungstenite::accept_async(tcp).await.unwrap()
}

/// The next message the agent sends (pings skipped).
async fn next(ws: &mut ServerSide) -> AgentMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the agent sent nothing for 30 s")
            .expect("the agent closed the link")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn send(ws: &mut ServerSide, frame: serde_json::Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inventory_is_sent_unasked_every_heartbeat_and_after_plugin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = connected(dir.path(), Duration::from_secs(1)).await;
    let AgentMessage::Plugins { inventory } = next(&mut ws).await else {
        panic!("the first frame is not the inventory");
    };
    let agents: Vec<PluginAgent> = inventory.agents.iter().map(|a| a.agent).collect();
    assert_eq!(agents, [PluginAgent::Gearman, PluginAgent::Nodus]);
    let nodus = &inventory.agents[1];
    assert!(
        nodus
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("no nodus at ")),
        "{nodus:?}"
    );
    // Heartbeats go by: more inventories, nothing asked.
    for _ in 0..2 {
        assert!(matches!(next(&mut ws).await, AgentMessage::Plugins { .. }));
    }
    // A plugin command: its answer, and an inventory after it.
    send(
        &mut ws,
        serde_json::json!({"id": "s1", "method": "plugin.stop", "agent": "gearman",
            "name": "nothing-here"}),
    )
    .await;
    let mut answered = false;
    for _ in 0..10 {
        match next(&mut ws).await {
            AgentMessage::Result { result, .. } => {
                assert_eq!(result.id.as_deref(), Some("s1"));
                assert_eq!(result.retcode, wire::retcode::NOT_FOUND, "{result:?}");
                answered = true;
            }
            AgentMessage::Plugins { .. } if answered => return,
            _ => {}
        }
    }
    panic!("no inventory after the command's answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_nodus_delays_the_inventory_not_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A nodus that accepts and never answers.
    let listener = UnixListener::bind(dir.path().join("nodus.sock")).unwrap();
    let _held = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
    });
    let mut ws = connected(dir.path(), Duration::from_secs(60)).await;
    send(
        &mut ws,
        serde_json::json!({"id": "e1", "method": "sync.bash", "cmd": "echo hi"}),
    )
    .await;
    let AgentMessage::Result { result, .. } = next(&mut ws).await else {
        panic!("the answer must come before an inventory that waits for nodus");
    };
    assert_eq!(result.id.as_deref(), Some("e1"));
    let AgentMessage::Plugins { inventory } = next(&mut ws).await else {
        panic!("then the inventory");
    };
    let error = inventory.agents[1].error.clone().unwrap_or_default();
    assert!(error.contains("did not answer within 3 s"), "{error}");
}
