//! systemd's readiness protocol: under a `Type=notify` unit an agent says `READY=1` once it
//! serves (its sockets bound, its configuration loaded), so `systemctl start` returns then and
//! units ordered after it start only then. Outside systemd (no `$NOTIFY_SOCKET`) it does nothing.

/// Tells systemd the agent is ready; a failure is logged, never fatal.
pub fn notify_ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!("could not tell systemd the agent is ready: {e}");
    }
}
