//! Vector files the CLI reads: fvecs, bvecs, `.npy`, Arrow IPC (file or stream),
//! Parquet, and text (one vector per line, for stdin).
//!
//! Every reader streams in chunks of at most `chunk_rows` rows, knows the row count up
//! front where the format records it (for the progress bar), and refuses a malformed
//! file with the byte offset or row where it went wrong — never a silent truncation.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use drift::arrow::ArrowColumns;

/// A file format the CLI understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Per vector: little-endian i32 dimension, then that many f32.
    Fvecs,
    /// Per vector: little-endian i32 dimension, then that many u8.
    Bvecs,
    /// NumPy `.npy`: a 2-d C-order array of float32, float16, float64, uint8 or int8.
    Npy,
    /// Arrow IPC, file (`.arrow`, `.feather`) or stream (`.arrows`) format.
    Arrow,
    /// Apache Parquet.
    Parquet,
    /// Text: one vector per line, numbers separated by commas or spaces (`[...]` allowed).
    Text,
}

impl Format {
    /// The format `explicit` names, or the one `path`'s extension implies.
    pub fn resolve(explicit: Option<Format>, path: &Path) -> Result<Format, String> {
        if let Some(f) = explicit {
            return Ok(f);
        }
        if path == Path::new("-") {
            return Ok(Format::Text);
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        Ok(match ext.as_str() {
            "fvecs" => Format::Fvecs,
            "bvecs" => Format::Bvecs,
            "npy" => Format::Npy,
            "arrow" | "feather" | "ipc" | "arrows" => Format::Arrow,
            "parquet" | "pq" => Format::Parquet,
            "txt" | "csv" | "tsv" => Format::Text,
            _ => {
                return Err(format!(
                    "cannot tell the format of {} from its extension; pass --format fvecs|bvecs|npy|arrow|parquet|text",
                    path.display()
                ));
            }
        })
    }
}

/// One chunk of input rows.
pub enum Chunk {
    /// Row-major vectors (`rows × dimension` floats), no ids.
    Vectors(Vec<f32>),
    /// A record batch (Arrow and Parquet), with its own id / span columns.
    Batch(RecordBatch),
}

/// An open input: its dimension, row count if known, and its chunks.
pub struct Source {
    pub dimension: usize,
    pub rows: Option<u64>,
    pub chunks: Box<dyn Iterator<Item = Result<Chunk, String>>>,
}

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Opens `path` (or stdin for `-`) in `format`.
pub fn open_source(path: &Path, format: Format, chunk_rows: usize, columns: &ArrowColumns) -> Result<Source, String> {
    match format {
        Format::Fvecs => vecs(path, 4, chunk_rows),
        Format::Bvecs => vecs(path, 1, chunk_rows),
        Format::Npy => npy(path, chunk_rows),
        Format::Arrow => arrow_ipc(path, columns),
        Format::Parquet => parquet(path, chunk_rows, columns),
        Format::Text => text(path, chunk_rows),
    }
}

/// fvecs (`item` = 4, f32) and bvecs (`item` = 1, u8).
fn vecs(path: &Path, item: usize, chunk_rows: usize) -> Result<Source, String> {
    let file = open(path)?;
    let len = file.metadata().map_err(|e| format!("cannot stat {}: {e}", path.display()))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; 4];
    reader.read_exact(&mut head).map_err(|_| format!("{} is empty or shorter than one vector header", path.display()))?;
    let dimension = i32::from_le_bytes(head);
    if dimension <= 0 || dimension > drift::MAX_DIMENSION as i32 {
        return Err(format!(
            "{}: the first vector's dimension field reads {dimension}; is this really a {} file?",
            path.display(),
            if item == 4 { "fvecs" } else { "bvecs" }
        ));
    }
    let dimension = dimension as usize;
    let record = 4 + (dimension * item) as u64;
    if len % record != 0 {
        return Err(format!(
            "{}: {len} bytes is not a whole number of {record}-byte records of dimension {dimension} (truncated file?)",
            path.display()
        ));
    }
    let rows = len / record;
    let path = path.to_owned();
    let mut first = Some(head);
    let mut row = 0u64;
    let chunks = std::iter::from_fn(move || {
        if row == rows {
            return None;
        }
        let take = (rows - row).min(chunk_rows as u64) as usize;
        let mut out = Vec::with_capacity(take * dimension);
        let mut buf = vec![0u8; dimension * item];
        for _ in 0..take {
            let mut head = [0u8; 4];
            let read = match first.take() {
                Some(h) => {
                    head = h;
                    Ok(())
                }
                None => reader.read_exact(&mut head),
            };
            if let Err(e) = read.and_then(|()| reader.read_exact(&mut buf)) {
                return Some(Err(format!("{}: read failed at vector {row}: {e}", path.display())));
            }
            let d = i32::from_le_bytes(head);
            if d as usize != dimension {
                return Some(Err(format!(
                    "{}: vector {row} (byte offset {}) declares dimension {d}, the file's first vector {dimension}",
                    path.display(),
                    row * record
                )));
            }
            if item == 4 {
                out.extend(buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            } else {
                out.extend(buf.iter().map(|&b| b as f32));
            }
            row += 1;
        }
        Some(Ok(Chunk::Vectors(out)))
    });
    Ok(Source { dimension, rows: Some(rows), chunks: Box::new(chunks) })
}

#[derive(Clone, Copy)]
enum NpyType {
    F32,
    F16,
    F64,
    U8,
    I8,
}

impl NpyType {
    fn size(self) -> usize {
        match self {
            NpyType::F32 => 4,
            NpyType::F16 => 2,
            NpyType::F64 => 8,
            NpyType::U8 | NpyType::I8 => 1,
        }
    }
    fn decode(self, b: &[u8], out: &mut Vec<f32>) {
        match self {
            NpyType::F32 => out.extend(b.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            NpyType::F16 => out.extend(b.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())),
            NpyType::F64 => out.extend(b.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)),
            NpyType::U8 => out.extend(b.iter().map(|&v| v as f32)),
            NpyType::I8 => out.extend(b.iter().map(|&v| v as i8 as f32)),
        }
    }
}

/// The header of a `.npy` file: element type, shape, and where the data starts.
struct NpyHeader {
    dtype: NpyType,
    rows: u64,
    dimension: usize,
    data_offset: u64,
}

fn npy_header(path: &Path, reader: &mut impl Read) -> Result<NpyHeader, String> {
    let bad = |what: &str| format!("{} is not a .npy file NumPy wrote: {what}", path.display());
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic).map_err(|_| bad("shorter than the magic string"))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("no \\x93NUMPY magic"));
    }
    let (header_len, prefix) = match magic[6] {
        1 => {
            let mut l = [0u8; 2];
            reader.read_exact(&mut l).map_err(|_| bad("truncated header"))?;
            (u16::from_le_bytes(l) as usize, 10)
        }
        2 | 3 => {
            let mut l = [0u8; 4];
            reader.read_exact(&mut l).map_err(|_| bad("truncated header"))?;
            (u32::from_le_bytes(l) as usize, 12)
        }
        v => return Err(bad(&format!("format version {v} (1 to 3 are known)"))),
    };
    if header_len > 1 << 20 {
        return Err(bad("header longer than 1 MiB"));
    }
    let mut header = vec![0u8; header_len];
    reader.read_exact(&mut header).map_err(|_| bad("truncated header"))?;
    let header = String::from_utf8_lossy(&header).to_string();
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        if let Some(r) = rest.strip_prefix('(') {
            return Some(r[..r.find(')')?].to_string());
        }
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('\'').to_string())
    };
    let descr = field("descr").ok_or_else(|| bad("no 'descr' in the header"))?;
    let dtype = match descr.as_str() {
        "<f4" => NpyType::F32,
        "<f2" => NpyType::F16,
        "<f8" => NpyType::F64,
        "|u1" | "<u1" => NpyType::U8,
        "|i1" | "<i1" => NpyType::I8,
        other => {
            return Err(format!(
                "{}: element type {other:?} is not supported; save float32 (arr.astype(np.float32)), float16, float64, uint8 or int8",
                path.display()
            ));
        }
    };
    if field("fortran_order").as_deref() != Some("False") {
        return Err(format!("{}: the array is in Fortran order; save np.ascontiguousarray(arr) instead", path.display()));
    }
    let shape = field("shape").ok_or_else(|| bad("no 'shape' in the header"))?;
    let dims: Vec<u64> = shape.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<u64>()).collect::<Result<_, _>>().map_err(|_| bad("unreadable shape"))?;
    let (rows, dimension) = match dims.as_slice() {
        [d] => (1, *d),
        [n, d] => (*n, *d),
        _ => return Err(format!("{}: the array has shape ({shape}); a 2-d array (rows, dimension) is needed", path.display())),
    };
    Ok(NpyHeader { dtype, rows, dimension: dimension as usize, data_offset: (prefix + header_len) as u64 })
}

/// Decodes a whole `.npy` held in memory: its dimension and row-major f32 values.
pub fn npy_from_bytes(bytes: &[u8], name: &str) -> Result<(usize, Vec<f32>), String> {
    let mut reader = bytes;
    let h = npy_header(Path::new(name), &mut reader)?;
    let len = (h.rows as usize) * h.dimension * h.dtype.size();
    let data = bytes.get(h.data_offset as usize..h.data_offset as usize + len).ok_or_else(|| format!("{name}: truncated"))?;
    let mut out = Vec::with_capacity(h.rows as usize * h.dimension);
    h.dtype.decode(data, &mut out);
    Ok((h.dimension, out))
}

fn npy(path: &Path, chunk_rows: usize) -> Result<Source, String> {
    let file = open(path)?;
    let len = file.metadata().map_err(|e| format!("cannot stat {}: {e}", path.display()))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let h = npy_header(path, &mut reader)?;
    if h.dimension == 0 || h.dimension > drift::MAX_DIMENSION {
        return Err(format!("{}: dimension {} is outside 1..={}", path.display(), h.dimension, drift::MAX_DIMENSION));
    }
    let row_bytes = (h.dimension * h.dtype.size()) as u64;
    if len != h.data_offset + h.rows * row_bytes {
        return Err(format!(
            "{}: the header promises {} rows of {row_bytes} bytes but the file holds {} bytes of data (truncated file?)",
            path.display(),
            h.rows,
            len.saturating_sub(h.data_offset)
        ));
    }
    let (rows, dimension, dtype) = (h.rows, h.dimension, h.dtype);
    let mut row = 0u64;
    let path = path.to_owned();
    let chunks = std::iter::from_fn(move || {
        if row == rows {
            return None;
        }
        let take = (rows - row).min(chunk_rows as u64) as usize;
        let mut buf = vec![0u8; take * row_bytes as usize];
        if let Err(e) = reader.read_exact(&mut buf) {
            return Some(Err(format!("{}: read failed at row {row}: {e}", path.display())));
        }
        let mut out = Vec::with_capacity(take * dimension);
        dtype.decode(&buf, &mut out);
        row += take as u64;
        Some(Ok(Chunk::Vectors(out)))
    });
    Ok(Source { dimension, rows: Some(rows), chunks: Box::new(chunks) })
}

/// The dimension of the vector column of `schema` (fixed-size lists only; for variable
/// lists the first row tells).
fn arrow_dimension(schema: &arrow_schema::Schema, columns: &ArrowColumns, first: Option<&RecordBatch>, path: &Path) -> Result<usize, String> {
    let names = || schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    let field = schema
        .field_with_name(&columns.vector)
        .map_err(|_| format!("{} has no column {:?} (it has: {}); name the vector column with --vector-column", path.display(), columns.vector, names()))?;
    match field.data_type() {
        arrow_schema::DataType::FixedSizeList(_, n) => Ok(*n as usize),
        arrow_schema::DataType::List(_) | arrow_schema::DataType::LargeList(_) => {
            let Some(batch) = first else { return Err(format!("{} holds no rows", path.display())) };
            drift::arrow::batch_vectors(batch, &columns.vector, None)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .first()
                .map(|v| v.len())
                .ok_or_else(|| format!("{} holds no rows", path.display()))
        }
        other => Err(format!("{}: column {:?} has type {other}; vectors must be lists of float32", path.display(), columns.vector)),
    }
}

fn batches_source(
    path: &Path,
    schema: &arrow_schema::Schema,
    rows: Option<u64>,
    columns: &ArrowColumns,
    mut batches: Box<dyn Iterator<Item = Result<RecordBatch, String>>>,
) -> Result<Source, String> {
    let first = batches.next().transpose()?;
    let dimension = arrow_dimension(schema, columns, first.as_ref(), path)?;
    let chunks = first.into_iter().map(Ok).chain(batches).map(|b| b.map(Chunk::Batch));
    Ok(Source { dimension, rows, chunks: Box::new(chunks) })
}

/// Runs a third-party decoder (Arrow IPC, Parquet) so that a panic on a malformed file
/// becomes an error naming the file. The panic message is kept off stderr while it
/// runs (the hook is process-wide; the CLI reads input on one thread).
fn contained<T>(path: &Path, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    outcome.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no reason given");
        Err(format!("{}: malformed file (its reader gave up: {why})", path.display()))
    })
}

/// Batches read through [`contained`]; after an error it yields nothing more.
struct ContainedBatches {
    path: PathBuf,
    inner: Box<dyn Iterator<Item = Result<RecordBatch, String>>>,
    failed: bool,
}

impl Iterator for ContainedBatches {
    type Item = Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let inner = &mut self.inner;
        let next = contained(&self.path, || Ok(inner.next())).unwrap_or_else(|e| Some(Err(e)));
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

fn contain(path: &Path, inner: Box<dyn Iterator<Item = Result<RecordBatch, String>>>) -> Box<dyn Iterator<Item = Result<RecordBatch, String>>> {
    Box::new(ContainedBatches { path: path.to_owned(), inner, failed: false })
}

fn arrow_ipc(path: &Path, columns: &ArrowColumns) -> Result<Source, String> {
    let mut file = open(path)?;
    let mut magic = [0u8; 6];
    let is_file = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    let file = open(path)?;
    let shown: PathBuf = path.to_owned();
    let err = move |e: arrow_schema::ArrowError| format!("{}: {e}", shown.display());
    type Batches = Box<dyn Iterator<Item = Result<RecordBatch, String>>>;
    let (schema, batches): (arrow_schema::SchemaRef, Batches) = contained(path, || {
        if is_file {
            let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None).map_err(&err)?;
            Ok((reader.schema(), Box::new(reader.map(move |b| b.map_err(&err))) as Batches))
        } else {
            let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None).map_err(&err)?;
            Ok((reader.schema(), Box::new(reader.map(move |b| b.map_err(&err))) as Batches))
        }
    })?;
    batches_source(path, &schema, None, columns, contain(path, batches))
}

fn parquet(path: &Path, chunk_rows: usize, columns: &ArrowColumns) -> Result<Source, String> {
    let shown: PathBuf = path.to_owned();
    let err = move |e: parquet::errors::ParquetError| parquet_error(&shown, e);
    let file = open(path)?;
    let (rows, reader) = contained(path, || {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(&err)?;
        let rows = builder.metadata().file_metadata().num_rows() as u64;
        Ok((rows, builder.with_batch_size(chunk_rows).build().map_err(&err)?))
    })?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let shown: PathBuf = path.to_owned();
    let batches = reader.map(move |b| b.map_err(|e| parquet_error(&shown, parquet::errors::ParquetError::from(e))));
    batches_source(path, &schema, Some(rows), columns, contain(path, Box::new(batches)))
}

/// A Parquet error, with the remedy when the file uses a codec this build leaves out.
fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> String {
    let message = format!("{}: {e}", path.display());
    if message.contains("feature") || message.contains("codec") || message.contains("Codec") {
        format!("{message}\n  hint: drift reads Parquet compressed with snappy, zstd or lz4, or uncompressed; rewrite the file with one of those (pyarrow: pq.write_table(t, path, compression=\"zstd\"))")
    } else {
        message
    }
}

/// Text: one vector per line, numbers separated by commas, spaces or tabs; brackets
/// are ignored (so JSON arrays work); blank lines and `#` comments are skipped.
fn text(path: &Path, chunk_rows: usize) -> Result<Source, String> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(open(path)?))
    };
    let shown = if path == Path::new("-") { "stdin".to_string() } else { path.display().to_string() };
    let mut lines = reader.lines().enumerate();
    let parse = move |(n, line): (usize, std::io::Result<String>)| -> Option<Result<Vec<f32>, String>> {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(format!("{shown}: read failed at line {}: {e}", n + 1))),
        };
        let body = line.trim();
        if body.is_empty() || body.starts_with('#') {
            return None;
        }
        let v: Result<Vec<f32>, String> = body
            .split(|c: char| c == ',' || c.is_whitespace() || c == '[' || c == ']')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f32>().map_err(|_| format!("{shown}: line {}: {s:?} is not a number", n + 1)))
            .collect();
        Some(v)
    };
    let mut first = None;
    for item in lines.by_ref() {
        if let Some(v) = parse(item) {
            first = Some(v?);
            break;
        }
    }
    let first = first.ok_or_else(|| format!("{} holds no vectors (one per line, numbers separated by commas or spaces)", if path == Path::new("-") { "stdin".into() } else { path.display().to_string() }))?;
    let dimension = first.len();
    let mut pending = Some(first);
    let mut done = false;
    let chunks = std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut out: Vec<f32> = pending.take().unwrap_or_default();
        while out.len() < chunk_rows * dimension {
            match lines.next() {
                None => {
                    done = true;
                    break;
                }
                Some(item) => match parse(item) {
                    None => {}
                    Some(Err(e)) => return Some(Err(e)),
                    Some(Ok(v)) if v.len() != dimension => {
                        return Some(Err(format!("a vector has {} numbers, the first one {dimension}", v.len())));
                    }
                    Some(Ok(v)) => out.extend(v),
                },
            }
        }
        (!out.is_empty()).then_some(Ok(Chunk::Vectors(out)))
    });
    Ok(Source { dimension, rows: None, chunks: Box::new(chunks) })
}

/// Reads every vector of a source into one row-major buffer (for search queries).
pub fn all_vectors(source: Source, columns: &ArrowColumns) -> Result<Vec<f32>, String> {
    let mut out = Vec::new();
    for chunk in source.chunks {
        match chunk? {
            Chunk::Vectors(v) => out.extend(v),
            Chunk::Batch(b) => {
                for v in drift::arrow::batch_vectors(&b, &columns.vector, Some(source.dimension)).map_err(|e| e.to_string())? {
                    out.extend_from_slice(v);
                }
            }
        }
    }
    Ok(out)
}
