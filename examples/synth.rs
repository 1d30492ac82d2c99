//! Writes a synthetic cluster: `cargo run --release --example synth -- SIZE [SEED] [yaml|json]`
//! (SIZE is S, M or L). YAML is for `lastmile -f`; JSON is a `kind: List`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args
        .first()
        .and_then(|s| lastmile::synth::Size::parse(s))
        .unwrap_or_else(|| {
            eprintln!("usage: synth S|M|L [SEED] [yaml|json]");
            std::process::exit(2)
        });
    let seed = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let objects = lastmile::synth::generate(size, seed);
    let out = match args.get(2).map(String::as_str) {
        Some("json") => lastmile::synth::to_json_list(&objects),
        _ => lastmile::synth::to_yaml(&objects),
    };
    print!("{out}");
}
