//! The `keygate` binary: everything lives in the library; see `keygate --help`.

fn main() -> std::process::ExitCode {
    keygate::cli::main()
}
