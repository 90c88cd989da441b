//! Line charts as PNG with plotters' bitmap backend. Text is rendered with
//! ab_glyph from a TrueType font read at run time (Debian's
//! fonts-dejavu-core), so building needs no system font library. Without
//! the font, plots are skipped with a warning; CSV and markdown still carry
//! every number.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use super::error::LabCmdError;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the font once; the error says how to get one.
fn font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let env = std::env::var("PACOM_LAB_FONT").ok();
        let path = env
            .as_deref()
            .into_iter()
            .chain(FONT_PATHS)
            .find(|p| Path::new(p).exists())
            .ok_or("no TrueType font (install fonts-dejavu-core or set PACOM_LAB_FONT)")?;
        let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{path} is not a usable font"))
    })
    .clone()
}

/// Series with more points than this are drawn as plain lines.
const MAX_MARKED_POINTS: usize = 60;

/// One named series of points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// Axis scale of a chart.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// A line chart description.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: &'a [Series],
    /// Legend in the upper left instead of the lower right.
    pub legend_upper_left: bool,
}

fn range(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (scale == Scale::Linear || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    match scale {
        Scale::Log => (lo / 1.2, hi * 1.2),
        Scale::Linear => {
            let pad = ((hi - lo) * 0.05).max(1e-9);
            (lo.min(0.0).max(lo - pad), hi + pad)
        }
    }
}

/// Draws `chart` into the PNG `path`.
pub fn line_chart(path: &Path, chart: &Chart) -> Result<(), LabCmdError> {
    let err = |reason: String| LabCmdError::Plot {
        path: path.to_path_buf(),
        reason,
    };
    font().map_err(err)?;
    draw(path, chart).map_err(|e| err(e.to_string()))
}

fn draw(path: &Path, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let (x0, x1) = range(xs, chart.x_scale);
    let (y0, y1) = range(ys, chart.y_scale);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(chart.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60);
    macro_rules! body {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            ctx.configure_mesh()
                .x_desc(chart.x_label)
                .y_desc(chart.y_label)
                .label_style(("sans-serif", 15))
                .draw()?;
            for (i, s) in chart.series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                ctx.draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
                if s.points.len() <= MAX_MARKED_POINTS {
                    ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                }
            }
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(if chart.legend_upper_left {
                    SeriesLabelPosition::UpperLeft
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .draw()?;
        }};
    }
    match (chart.x_scale, chart.y_scale) {
        (Scale::Linear, Scale::Linear) => body!(builder.build_cartesian_2d(x0..x1, y0..y1)?),
        (Scale::Log, Scale::Linear) => {
            body!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?)
        }
        (Scale::Linear, Scale::Log) => {
            body!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?)
        }
        (Scale::Log, Scale::Log) => {
            body!(builder.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?)
        }
    }
    root.present()?;
    Ok(())
}

/// Draws and reports failure as a warning: plots are a convenience, the
/// numbers are in the CSV files.
pub fn try_line_chart(path: &Path, chart: &Chart) -> bool {
    match line_chart(path, chart) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("warning: {e}");
            tracing::warn!("{e}");
            false
        }
    }
}
