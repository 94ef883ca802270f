//! PNG plots (placeholder until written).
use std::process::ExitCode;

use super::args::PlotOptions;

/// Draws the plots.
pub fn main(o: &PlotOptions) -> ExitCode {
    eprintln!("plot {} {}: not yet", o.input, o.out);
    ExitCode::FAILURE
}
