//! The `kgqa` command: parses arguments, runs a subcommand, prints the error chain.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc, with the system `malloc`'s blocks that C code hands to Rust freed by the
/// system (`kgqa::alloc`, which says why). See [`keep_freed_memory`] for the one setting
/// it needs.
#[global_allocator]
static ALLOCATOR: kgqa::alloc::Allocator = kgqa::alloc::Allocator;

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in `mimalloc.h`, the same
/// index in its v2 and v3 enums, which keep retired entries to keep the numbering).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to hand freed pages back to the OS. By default it returns them
/// after a delay, and a training step's tensors come back as fresh pages to fault in and
/// zero: 184,000 page faults for three steps of `kgqa train --fusion input` against about
/// 6,500 with this set (`/usr/bin/time`, by hand; `benches/threads_and_memory.sh` counts the
/// faults of the current binary).
/// The cost is that the process keeps its peak footprint until it exits.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` takes an option index and a value and only stores the value
    // in mimalloc's option table (a valid index; -1 is the documented "never purge").
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // A server gives memory back after a burst (mimalloc's default); batch work keeps it.
    if !args.command.is_server() {
        keep_freed_memory();
    }
    // Chooses the matrix-product kernels before any thread starts (see model::kernels).
    kgqa::model::kernels::init();
    // Log lines (the server's failures, with their request ids) go to stderr.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`kgqa ... | head`) is the reader's choice, not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", report(&err));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message
/// already holds (our error types print their source in their own message, e.g.
/// `path: No such file or directory`, and anyhow's `{:#}` would repeat it).
fn report(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_reported_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let typed = kgqa::model::Error::Io { path: "m/model.safetensors".into(), source: io };
        let err = anyhow::Error::from(typed).context("loading m");
        assert_eq!(format!("{err:#}").matches("no such file").count(), 2);
        assert_eq!(report(&err), "loading m: m/model.safetensors: no such file");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(report(&plain), "outer: inner");
    }
}
