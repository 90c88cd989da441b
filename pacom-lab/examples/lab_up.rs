//! Brings a topology up, shows how to reach each host, and tears it down
//! on Enter or end of input. (A Ctrl-C skips the teardown; the next
//! `Lab::up` removes what it left.)
//!
//! ```text
//! lab_up TOPOLOGY.toml          # run it
//! lab_up --mesh N SEED          # print a full mesh of N hosts, delays U[1, 100] ms
//! ```

use std::io::BufRead;

use pacom_lab::{Lab, Topology};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, n, seed] if flag == "--mesh" => {
            let n: usize = n.parse()?;
            let names: Vec<String> = (1..=n).map(|i| format!("p{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            print!(
                "{}",
                Topology::full_mesh(&refs, 77, 1.0, 100.0, seed.parse()?).to_toml()
            );
            Ok(())
        }
        [path] => {
            let topology = Topology::from_toml(&std::fs::read_to_string(path)?)?;
            let lab = Lab::up(&topology)?;
            for host in lab.hosts() {
                println!(
                    "{host}: {} in `ip netns exec {}`",
                    lab.addr(host)?,
                    lab.namespace(host)?
                );
            }
            println!("up; press Enter to tear down");
            let _ = std::io::stdin().lock().lines().next();
            drop(lab);
            Ok(())
        }
        _ => Err("usage: lab_up TOPOLOGY.toml | lab_up --mesh N SEED".into()),
    }
}
