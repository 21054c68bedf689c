//! Polaris, the central server. This crate only builds for now; its HTTP API, database and
//! package server arrive with the server issue. It depends on `wire` and never on `host/`.

fn main() {
    eprintln!("polaris: not built yet; see the README's roadmap");
    std::process::exit(2);
}
