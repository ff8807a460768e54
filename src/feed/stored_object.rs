//! Gzip-compressed JSON objects in an object store, read and written within fixed bounds.
//!
//! Snapshots and recommendation records are both stored this way, and both are read by
//! workloads whose memory is limited (256 MiB by default). Nothing here ever trusts a size the
//! other side declares:
//!
//! - the object's size (the listing's, or the GET response's) is checked before a byte of the
//!   body is read, and the body is then streamed with a running count that stops at the cap, so a
//!   store that lies about the size cannot push more than the cap into memory either;
//! - decompression is streamed straight into the deserializer through a reader that fails as
//!   soon as the decompressed count passes its cap: the JSON text never exists in memory as a
//!   whole, and a gzip bomb stops after `cap` bytes of output, however small its input;
//! - encoding refuses a value whose JSON is over the readers' cap, so a writer never stores what
//!   readers would refuse.
//!
//! Peak memory of one read is therefore the compressed bytes (at most the object cap) plus the
//! decoded value; the JSON is never buffered.

use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufReader, Read, Write};

/// Caps of one kind of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stored (compressed) object read.
    pub stored: u64,
    /// Largest decompressed JSON decoded or encoded.
    pub decompressed: u64,
}

/// Why an object could not be read, decoded or encoded within its limits.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("the stored object is {size} bytes, over the {limit}-byte limit; not read")]
    StoredTooLarge { size: u64, limit: u64 },
    #[error("the object decompresses to more than {limit} bytes; refused")]
    DecompressedTooLarge { limit: u64 },
    #[error("{0}")]
    Store(object_store::Error),
    #[error("gzip: {0}")]
    Gzip(String),
    #[error("{0}")]
    Json(String),
}

impl ObjectError {
    /// Over one of the caps (as opposed to unreadable or corrupt).
    pub fn is_too_large(&self) -> bool {
        matches!(self, ObjectError::StoredTooLarge { .. } | ObjectError::DecompressedTooLarge { .. })
    }
}

/// Read the stored bytes of `path`: the size the store reports is checked before the body is
/// read, and the body is counted while it streams in and abandoned once it passes the cap.
/// `listed_size` (from a listing) is checked first, without a request, when known.
pub async fn read(
    store: &dyn ObjectStore,
    path: &Path,
    listed_size: Option<u64>,
    limits: Limits,
) -> Result<Vec<u8>, ObjectError> {
    let limit = limits.stored;
    if let Some(size) = listed_size.filter(|s| *s > limit) {
        return Err(ObjectError::StoredTooLarge { size, limit });
    }
    let got = store.get_opts(path, GetOptions::default()).await.map_err(ObjectError::Store)?;
    if got.meta.size > limit {
        return Err(ObjectError::StoredTooLarge { size: got.meta.size, limit });
    }
    // Never sized from the response: grown as bytes arrive.
    let mut body = Vec::with_capacity(got.meta.size.min(64 * 1024) as usize);
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk.map_err(ObjectError::Store)?;
        let size = (body.len() + chunk.len()) as u64;
        if size > limit {
            return Err(ObjectError::StoredTooLarge { size, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reader that fails once more than `limit` bytes have passed through it.
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Allow one byte past the cap: reading it proves the input is longer.
        let max = buf.len().min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n as u64 > self.left {
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed size over the cap"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn capped(bytes: &[u8], limit: u64) -> Capped<GzDecoder<&[u8]>> {
    Capped { inner: GzDecoder::new(bytes), left: limit, exceeded: false }
}

/// Decode gzip-compressed JSON into `T`, streaming, with at most `limit` decompressed bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, ObjectError> {
    let mut reader = capped(bytes, limit);
    let result = serde_json::from_reader(BufReader::with_capacity(64 * 1024, &mut reader));
    result.map_err(|e| {
        if reader.exceeded {
            ObjectError::DecompressedTooLarge { limit }
        } else if e.is_io() {
            ObjectError::Gzip(e.to_string())
        } else {
            ObjectError::Json(crate::feed::provider::truncate(&e.to_string(), 200))
        }
    })
}

/// A writer that fails once more than `limit` bytes have been written to it.
struct CappedWriter<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for CappedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::other("over the cap"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Gzip-compressed JSON of `value`, refused when the JSON is over `limit` bytes (readers would
/// refuse it).
pub fn encode<T: Serialize>(value: &T, limit: u64) -> Result<Vec<u8>, ObjectError> {
    let gz = GzEncoder::new(Vec::with_capacity(64 * 1024), Compression::default());
    let mut w = CappedWriter { inner: gz, left: limit };
    if let Err(e) = serde_json::to_writer(&mut w, value) {
        return Err(if e.is_io() {
            ObjectError::DecompressedTooLarge { limit }
        } else {
            ObjectError::Json(e.to_string())
        });
    }
    w.inner.finish().map_err(|e| ObjectError::Gzip(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(raw: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 64 MiB of zeros inside a JSON string compress to ~64 KiB.
        let mut raw = b"{\"x\":\"".to_vec();
        raw.resize(64 * 1024 * 1024, b'0');
        raw.extend_from_slice(b"\"}");
        let bomb = gzip(&raw);
        assert!(bomb.len() < 256 * 1024, "{} bytes compressed", bomb.len());
        let err = decode::<serde_json::Value>(&bomb, 1024 * 1024).unwrap_err();
        assert!(matches!(err, ObjectError::DecompressedTooLarge { limit: 1048576 }), "{err}");
        assert!(err.is_too_large());
    }

    #[test]
    fn exactly_the_cap_is_accepted_and_one_more_byte_is_not() {
        let json = br#"{"a":[1,2,3]}"#;
        let bytes = gzip(json);
        let v: serde_json::Value = decode(&bytes, json.len() as u64).unwrap();
        assert_eq!(v["a"][2], 3);
        assert!(matches!(
            decode::<serde_json::Value>(&bytes, json.len() as u64 - 1),
            Err(ObjectError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn corrupt_input_is_a_gzip_or_json_error_not_a_size_error() {
        assert!(matches!(decode::<serde_json::Value>(b"not gzip", 1024), Err(ObjectError::Gzip(_))));
        let e = decode::<serde_json::Value>(&gzip(b"{\"a\":"), 1024).unwrap_err();
        assert!(matches!(e, ObjectError::Json(_)), "{e}");
    }

    #[test]
    fn encoding_refuses_what_readers_would_refuse() {
        let big = vec!["x".repeat(1000); 100];
        assert!(matches!(encode(&big, 50_000), Err(ObjectError::DecompressedTooLarge { limit: 50_000 })));
        let ok = encode(&big, 200_000).unwrap();
        assert_eq!(decode::<Vec<String>>(&ok, 200_000).unwrap(), big);
    }
}
