//! Which hash crates secureagent uses, by measurement: SHA-256 from RustCrypto's `sha2`
//! (SHA-NI/AVX2 chosen at run time) against `ring`'s (BoringSSL assembly), SHA-512 the same,
//! and the `blake3` crate (one thread, SIMD chosen at run time). Each hashes 256 MiB in the
//! agent's 256 KiB reads from memory; prints MB/s (10^6 bytes). Run:
//! `cargo bench -p secureagent --bench hashes`.

use std::hint::black_box;
use std::time::Instant;

use sha2::Digest as _;

const TOTAL: usize = 256 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

fn measure(name: &str, mut hash: impl FnMut(&[u8]) -> Vec<u8>) {
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        black_box(hash(&chunk));
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{name:<24} {:>8.0} MB/s", TOTAL as f64 / 1e6 / best);
}

fn main() {
    println!(
        "hashing {} MiB in {} KiB chunks, best of 3",
        TOTAL >> 20,
        CHUNK >> 10
    );
    let n = TOTAL / CHUNK;
    measure("sha2 0.11 sha256", |c| {
        let mut h = sha2::Sha256::new();
        (0..n).for_each(|_| h.update(c));
        h.finalize().to_vec()
    });
    measure("ring 0.17 sha256", |c| {
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        (0..n).for_each(|_| h.update(c));
        h.finish().as_ref().to_vec()
    });
    measure("sha2 0.11 sha512", |c| {
        let mut h = sha2::Sha512::new();
        (0..n).for_each(|_| h.update(c));
        h.finalize().to_vec()
    });
    measure("ring 0.17 sha512", |c| {
        let mut h = ring::digest::Context::new(&ring::digest::SHA512);
        (0..n).for_each(|_| h.update(c));
        h.finish().as_ref().to_vec()
    });
    measure("blake3 1.8 (1 thread)", |c| {
        let mut h = blake3::Hasher::new();
        (0..n).for_each(|_| {
            h.update(c);
        });
        h.finalize().as_bytes().to_vec()
    });
}
